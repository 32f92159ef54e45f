"""Score stage: findings -> a status and 0-100 score per criterion, an overall score, a verdict.

Thresholds and weights come from rules/scoring.yaml. Absence of evidence is `unknown`
(score 50), never proof of legitimacy: only findings move a score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pharmcheck.models import Confidence, CriterionResult, Finding, Severity, Status, Verdict

_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}
SELLER = "seller"  # criterion saying whether the site sells medicines at all


# --- scoring.yaml: the criteria (their names, labels and order are data) and the thresholds ---


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class CriterionConfig(_Strict):
    label: str
    description: str = ""
    scale: float = Field(30.0, gt=0)  # total weight at which the score is ~88 (tanh(1))


class VerdictConfig(_Strict):
    legitimate_min_score: int = Field(70, ge=0, le=100)
    legitimate_requires_met: list[str] = Field(default_factory=list)
    rogue_max_score: int = Field(30, ge=0, le=100)
    rogue_on_red_flag_severity: list[Severity] = Field(default_factory=lambda: [Severity.critical])
    red_flag_min_severity: Severity = Severity.high
    seller_min_weight: float = 1.0  # below this, the site sells no medicines: not_pharmacy


class ScoringConfig(_Strict):
    rules_version: str
    confidence_factor: dict[Confidence, float]
    overall_scale: float = Field(40.0, gt=0)
    criteria: dict[str, CriterionConfig]  # the criteria a rule may score
    verdict: VerdictConfig

    @model_validator(mode="after")
    def _required_are_criteria(self) -> ScoringConfig:
        unknown = [c for c in self.verdict.legitimate_requires_met if c not in self.criteria]
        if unknown:
            raise ValueError(f"verdict.legitimate_requires_met names unknown criteria {unknown}")
        return self


@dataclass
class Score:
    verdict: Verdict
    score: int | None  # None: not assessed (unreachable), which is not a middling 50
    criteria: dict[str, CriterionResult]
    summary: str


def _to_100(total: float, scale: float) -> int:
    return round(50 + 50 * math.tanh(total / scale))


def _weighted(finding: Finding, config: ScoringConfig) -> float:
    return finding.weight * config.confidence_factor.get(finding.confidence, 1.0)


def _is_red_flag(finding: Finding, config: ScoringConfig) -> bool:
    return finding.weight < 0 and _SEVERITY_RANK[finding.severity] >= _SEVERITY_RANK[config.verdict.red_flag_min_severity]


def score_criteria(findings: list[Finding], config: ScoringConfig) -> dict[str, CriterionResult]:
    results: dict[str, CriterionResult] = {}
    for name, crit in config.criteria.items():
        own = sorted((f for f in findings if f.criterion == name), key=lambda f: (-abs(f.weight), f.rule_id))
        total = sum(_weighted(f, config) for f in own)
        if not own:
            status = Status.unknown
        elif any(_is_red_flag(f, config) for f in own):
            status = Status.red_flag
        elif total > 0:
            status = Status.met
        elif total < 0:
            status = Status.not_met
        else:
            status = Status.unknown
        results[name] = CriterionResult(label=crit.label, status=status, score=_to_100(total, crit.scale), findings=own)
    return results


def score_site(findings: list[Finding], config: ScoringConfig, assessed: bool) -> Score:
    """The verdict for a site. `assessed` is False when no page could be fetched and read."""
    criteria = score_criteria(findings, config)
    if not assessed:
        return Score(Verdict.unreachable, None, criteria, "could not assess: no page could be fetched and read")
    v = config.verdict
    seller_total = sum(_weighted(f, config) for f in findings if f.criterion == SELLER)
    legit = [f for f in findings if f.criterion != SELLER]
    total = sum(_weighted(f, config) for f in legit)
    score = _to_100(total, config.overall_scale)
    red_flags = [f for f in legit if _is_red_flag(f, config)]
    if SELLER in config.criteria and seller_total < v.seller_min_weight:
        return Score(Verdict.not_pharmacy, score, criteria, "sells no medicines: no products, prices, cart or prescription flow found")
    decisive = [f for f in red_flags if f.severity in v.rogue_on_red_flag_severity]
    if decisive or score <= v.rogue_max_score:
        worst = (decisive or red_flags or sorted(legit, key=lambda f: f.weight))[:3]
        return Score(Verdict.rogue, score, criteria, "rogue: " + "; ".join(f.message for f in worst))
    missing = [c for c in v.legitimate_requires_met if criteria.get(c) and criteria[c].status != Status.met]
    if score >= v.legitimate_min_score and not missing and not red_flags:
        return Score(Verdict.legitimate, score, criteria, "legitimate: " + _met_summary(criteria, config))
    reasons = []
    if red_flags:
        reasons.append("red flags: " + "; ".join(f.message for f in red_flags[:3]))
    if missing:
        reasons.append("not shown: " + ", ".join(config.criteria[c].label.lower() for c in missing))
    if not reasons:
        reasons.append("evidence is mixed or thin")
    return Score(Verdict.suspicious, score, criteria, "suspicious: " + "; ".join(reasons))


def _met_summary(criteria: dict[str, CriterionResult], config: ScoringConfig) -> str:
    met = [config.criteria[name].label.lower() for name, r in criteria.items() if r.status == Status.met and name != SELLER]
    return ", ".join(met) + " shown" if met else "no concerns found"
