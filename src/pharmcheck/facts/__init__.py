"""Site facts: what is known about a site beyond its pages (host name, TLS certificate,
domain registration...), gathered by providers behind one interface (interface.py) and
registered by name (registry.py). Importing this package registers the shipped providers,
in the order below (the order of reports)."""

# isort: off
from pharmcheck.facts import hostname  # noqa: F401
from pharmcheck.facts import certificate  # noqa: F401
from pharmcheck.facts import rdap  # noqa: F401
from pharmcheck.facts import dnsfacts  # noqa: F401
from pharmcheck.facts import registers  # noqa: F401
from pharmcheck.facts import seals  # noqa: F401
# isort: on
from pharmcheck.facts.interface import (
           FactCache,
           FactEnv,
           FactProvider,
           FactTarget,
           MemoryFactCache,
           Need,
           could_not_check,
)
from pharmcheck.facts.registry import PROVIDERS, collect_facts, gather_facts, register

__all__ = ["PROVIDERS", "FactCache", "FactEnv", "FactProvider", "FactTarget", "MemoryFactCache", "Need",
           "collect_facts", "could_not_check", "gather_facts", "register"]
