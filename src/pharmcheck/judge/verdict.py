"""The fitted verdict of one site, in the report's terms: verdict, score, summary, confidence
and the contributions that decided it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pharmcheck.judge.model import JudgeModel
from pharmcheck.models import Contribution, Finding, SiteFacts, Verdict
from pharmcheck.score import Score

# What a non-rule feature means, for the summary line.
_FEATURE_WORDS = {
    "criterion": "{key} evidence",
    "scoring": "the hand-set scoring says {key}",
    "red_flags": "{key} red flags",
    "marks": "how many {key} marks the rules found",
    "host": "what the host name says ({key})",
    "page": "page kind ({key})",
    "text": "its wording",
}
REASONS_SHOWN = 3
_LEAD = {
    Verdict.legitimate: "legitimate",
    Verdict.rogue: "rogue",
    Verdict.not_pharmacy: "sells no medicines",
    Verdict.suspicious: "suspicious",
}


@dataclass
class SiteJudgement:
    verdict: Verdict
    score: int
    summary: str
    confidence: float
    contributions: list[Contribution]
    probabilities: dict[str, float]


def describe(c: Contribution) -> str:
    """A contribution in words: the rule's message, or what the feature is."""
    if c.rule or c.detail:
        return c.detail or c.feature
    kind, _, key = c.feature.partition(":")
    if kind == "text":
        return c.detail or "its wording"
    return _FEATURE_WORDS.get(kind, "{key}").format(key=key.replace("_", " "))


def legitimacy_score(probabilities: dict[str, float]) -> int:
    """0 = certainly rogue, 100 = certainly legitimate; a non-pharmacy sits mid-way."""
    p_legit, p_rogue = probabilities.get("legitimate", 0.0), probabilities.get("rogue", 0.0)
    return round(100 * p_legit / (p_legit + p_rogue)) if p_legit + p_rogue > 1e-9 else 50


def judge_site(
    model: JudgeModel | None,
    site: SiteFacts,
    findings: Sequence[Finding],
    rules_score: Score,
    lists: dict[str, list[str]],
) -> SiteJudgement | None:
    """The fitted verdict, or None without a model (the hand-set verdict stands)."""
    if model is None:
        return None
    j = model.judge(site, findings, rules_score, lists, lists.get("drug_names", []))
    score = legitimacy_score(j.probabilities)
    toward = [c for c in j.contributions if c.weight > 0]
    reasons = "; ".join(dict.fromkeys(describe(c) for c in toward[:REASONS_SHOWN])) or "no single feature decided it"
    best = j.contributions[0].toward if j.contributions else j.verdict.value
    if j.verdict == Verdict.suspicious:
        summary = f"suspicious: {j.reason}; leaning {best.replace('_', ' ')}: {reasons}"
    else:
        summary = f"{_LEAD[j.verdict]}: {reasons} (confidence {j.confidence:.0%})"
    return SiteJudgement(j.verdict, score, summary, j.confidence, j.contributions, j.probabilities)
