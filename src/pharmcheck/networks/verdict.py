"""The network finding: "member of a network of N sites, K judged rogue", scored like a rule.

It is added to a member's own findings and the site is scored again, only when other
members were judged rogue and the site itself was judged neither legitimate nor
not_pharmacy: a network never overrides a site's own licensing and prescription evidence.
"""

from __future__ import annotations

from pharmcheck.models import Finding, Verdict
from pharmcheck.networks.cluster import Network
from pharmcheck.networks.config import NetworkConfig
from pharmcheck.score import ScoringConfig, score_site

RESCORED = frozenset({Verdict.suspicious.value, Verdict.rogue.value})


def network_finding(network: Network, url: str, config: NetworkConfig) -> Finding | None:
    """The finding for one member, or None when no other member was judged rogue."""
    own_rogue = any(m.url == url and m.verdict == Verdict.rogue.value for m in network.members)
    others_rogue = network.rogue - (1 if own_rogue else 0)
    if others_rogue < 1:
        return None
    f = config.finding
    return Finding(
        rule_id=f.rule_id,
        criterion=f.criterion,
        name="Member of a network of rogue sites",
        severity=f.severity,
        confidence=f.confidence,
        weight=f.weight,
        message=f"member of a network of {network.size} sites, {network.rogue} judged rogue",
    )


def network_verdict(own: list[Finding], verdict: str, finding: Finding | None,
                    scoring: ScoringConfig) -> tuple[str, int | None] | None:
    """(verdict, score) with the network finding scored in; None when the site is not rescored."""
    if finding is None or verdict not in RESCORED:
        return None
    result = score_site([*own, finding], scoring, assessed=True)
    return result.verdict.value, result.score
