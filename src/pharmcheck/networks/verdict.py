"""The network finding: "member of a network of N sites, K judged rogue", weighed like a rule.

It is added to a member's own findings and the site is judged again, only when other
members were judged rogue and the site itself was judged neither legitimate nor
not_pharmacy: a network never overrides a site's own licensing and prescription evidence.

With the fitted judgement (reports carry its class probabilities), the finding is a prior
on the odds of `rogue` (`finding.log_odds`, referenced in rules/data/networks.yaml: the
audit corpus has no batches to fit it on), and the model's own decision rule (abstention,
critical veto) gives the verdict. Without one (hand-set scoring, or a report stored before
probabilities were kept), the finding is scored by its weight like any rule's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pharmcheck.judge.model import JudgeModel, softmax
from pharmcheck.judge.verdict import legitimacy_score
from pharmcheck.models import Finding, Verdict
from pharmcheck.networks.cluster import Network
from pharmcheck.networks.config import NetworkConfig
from pharmcheck.score import ScoringConfig, score_site

RESCORED = frozenset({Verdict.suspicious.value, Verdict.rogue.value})


@dataclass
class MemberInput:
    """What the stored report of one member says, for judging it again."""

    verdict: str
    score: int | None
    findings: Sequence[Finding]
    probabilities: dict[str, float]


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


def with_network_prior(probabilities: dict[str, float], log_odds: float) -> dict[str, float]:
    """The class probabilities after multiplying the odds of `rogue` by e^log_odds."""
    probs = softmax({c: math.log(max(p, 1e-12)) + (log_odds if c == Verdict.rogue.value else 0.0)
                     for c, p in probabilities.items()})
    return {c: round(p, 4) for c, p in probs.items()}


def network_verdict(member: MemberInput, finding: Finding | None, scoring: ScoringConfig,
                    model: JudgeModel | None = None, log_odds: float = 0.0) -> tuple[str, int | None] | None:
    """(verdict, score) with the network finding weighed in; None when the site is not judged again."""
    if finding is None or member.verdict not in RESCORED:
        return None
    findings = [*member.findings, finding]
    if model is not None and member.probabilities and set(member.probabilities) == set(model.classes):
        probs = with_network_prior(member.probabilities, log_odds)
        verdict, _ = model.verdict_from(probs, findings)
        return verdict.value, legitimacy_score(probs)
    result = score_site(findings, scoring, assessed=True)
    return result.verdict.value, result.score
