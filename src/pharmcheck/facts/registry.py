"""The providers, registered by name (not an if-chain), and gathering a site's facts: live,
within the site deadline, or read back from a replayed capture (which asks nothing live)."""

from __future__ import annotations

import logging
from typing import TypeVar

from pharmcheck.facts.interface import FactEnv, FactProvider, FactTarget, could_not_check
from pharmcheck.fetch.archive import ArchiveIndex, WarcRecorder
from pharmcheck.fetch.base import Deadline
from pharmcheck.models import SiteFact

_log = logging.getLogger("pharmcheck")

PROVIDERS: dict[str, FactProvider] = {}
P = TypeVar("P", bound=FactProvider)


def register(provider: P) -> P:
    if provider.name in PROVIDERS:
        raise ValueError(f"fact provider {provider.name!r} registered twice")
    PROVIDERS[provider.name] = provider
    return provider


def gather_facts(target: FactTarget, deadline: Deadline, env: FactEnv) -> list[SiteFact]:
    """Every registered provider's fact about `target`, in registration order. Live ones are
    skipped with --offline; one whose turn comes after the deadline could not check."""
    facts: list[SiteFact] = []
    for provider in PROVIDERS.values():
        if provider.live and env.options.offline:
            continue
        if provider.live and deadline.expired():
            facts.append(could_not_check(provider.name, target.host, "site deadline reached before this lookup", env))
            continue
        fact = provider.gather(target, deadline, env)
        if fact is not None:
            if not fact.ok:
                _log.debug("%s fact for %s: could not check: %s", provider.name, target.host, fact.reason)
            facts.append(fact)
    return facts


def collect_facts(target: FactTarget, deadline: Deadline, env: FactEnv, archive: ArchiveIndex | None = None,
                  recorder: WarcRecorder | None = None) -> list[SiteFact]:
    """The site's facts: from the replay archive when there is one (a capture without facts
    gives none, not "could not check"), else gathered live and recorded to `recorder`."""
    if archive is not None:
        return archive.facts_for(target.url)
    facts = gather_facts(target, deadline, env)
    if recorder is not None:
        recorder.write_facts(target.url, facts)
    return facts
