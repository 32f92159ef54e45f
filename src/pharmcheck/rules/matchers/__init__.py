"""Matcher kinds, one module per family, each kind registered by its key in a rule file.

Importing this package registers every kind in MATCHER_KINDS, in the order below (the order of
the rule-file schema and of the README table). A new kind is one new module here (options
model, compiled matcher, compile function, `register(...)`), imported below, plus its tests.
"""

# Importing a family module registers its kinds; this order is the schema's and the README's.
# isort: off
from pharmcheck.rules.matchers import text  # noqa: F401
from pharmcheck.rules.matchers import markup  # noqa: F401
from pharmcheck.rules.matchers import catalogue  # noqa: F401
from pharmcheck.rules.matchers import domain  # noqa: F401
from pharmcheck.rules.matchers import othersite  # noqa: F401
from pharmcheck.rules.matchers import contact  # noqa: F401
from pharmcheck.rules.matchers import language  # noqa: F401
from pharmcheck.rules.matchers import seal  # noqa: F401
from pharmcheck.rules.matchers import facts  # noqa: F401
from pharmcheck.rules.matchers import logic  # noqa: F401
# isort: on
from pharmcheck.rules.matchers.base import (
    MATCHER_KINDS,
    CompileContext,
    Compiled,
    Fired,
    MatcherKind,
    matcher_table,
    register,
)

__all__ = ["MATCHER_KINDS", "CompileContext", "Compiled", "Fired", "MatcherKind", "matcher_table", "register"]
