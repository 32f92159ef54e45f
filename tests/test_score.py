"""Scoring: findings -> criterion statuses, an overall score and a verdict, with thresholds from scoring.yaml."""

from __future__ import annotations

from pharmcheck.models import Confidence, Finding, Severity, Status, Verdict
from pharmcheck.ruleset import RuleSet
from pharmcheck.score import ScoringConfig, score_criteria, score_site


def finding(criterion: str, weight: float, severity: Severity = Severity.info, rule_id: str = "X-RULE") -> Finding:
    return Finding(rule_id=rule_id, criterion=criterion, severity=severity, confidence=Confidence.high, weight=weight, message=rule_id)


SELLS = finding("seller", 5, rule_id="SELL-X")
LEGIT = [SELLS, finding("licensing", 30, rule_id="LIC-X"), finding("prescription", 20, rule_id="RX-X")]


def test_criteria_without_evidence_stay_unknown(ruleset: RuleSet) -> None:
    criteria = score_criteria([SELLS, finding("licensing", 15)], ruleset.scoring)
    assert criteria["licensing"].status == Status.met
    for name in ("prescription", "reviews", "identity", "commerce"):
        assert criteria[name].status == Status.unknown
        assert criteria[name].score == 50
        assert criteria[name].findings == []


def test_no_seller_evidence_is_not_pharmacy_whatever_else_fired(ruleset: RuleSet) -> None:
    regulator = [finding("seller", -15, rule_id="NOT-REGULATOR"), finding("licensing", 15), finding("prescription", 20)]
    assert score_site(regulator, ruleset.scoring, assessed=True).verdict == Verdict.not_pharmacy
    assert score_site([], ruleset.scoring, assessed=True).verdict == Verdict.not_pharmacy


def test_a_critical_red_flag_makes_a_seller_rogue_despite_reassurances(ruleset: RuleSet) -> None:
    rogue = [*LEGIT, finding("prescription", -40, Severity.critical, "RX-PRESCRIPTION-SOLD")]
    result = score_site(rogue, ruleset.scoring, assessed=True)
    assert result.verdict == Verdict.rogue
    assert "RX-PRESCRIPTION-SOLD" in result.summary
    assert result.criteria["prescription"].status == Status.red_flag


def test_a_high_red_flag_blocks_legitimate_but_is_not_rogue_alone(ruleset: RuleSet) -> None:
    flagged = [*LEGIT, finding("commerce", -20, Severity.high, "COM-CRYPTO-PAYMENT")]
    assert score_site(flagged, ruleset.scoring, assessed=True).verdict == Verdict.suspicious
    assert score_site(LEGIT, ruleset.scoring, assessed=True).verdict == Verdict.legitimate


def test_legitimate_needs_the_criteria_scoring_yaml_requires(ruleset: RuleSet) -> None:
    no_licensing = [SELLS, finding("prescription", 40), finding("identity", 20)]
    result = score_site(no_licensing, ruleset.scoring, assessed=True)
    assert result.verdict == Verdict.suspicious
    assert "licensing" in result.summary.lower()


def test_thresholds_come_from_the_scoring_config(ruleset: RuleSet) -> None:
    strict: ScoringConfig = ruleset.scoring.model_copy(deep=True)
    strict.verdict.legitimate_min_score = 99
    assert score_site(LEGIT, strict, assessed=True).verdict == Verdict.suspicious
    lenient = ruleset.scoring.model_copy(deep=True)
    lenient.verdict.legitimate_requires_met = []
    thin = [SELLS, finding("prescription", 40)]
    assert score_site(thin, lenient, assessed=True).verdict == Verdict.legitimate
    assert score_site(thin, ruleset.scoring, assessed=True).verdict == Verdict.suspicious


def test_very_low_score_is_rogue_without_a_critical_flag(ruleset: RuleSet) -> None:
    bad = [SELLS, *[finding("commerce", -10, Severity.medium, f"COM-{i}") for i in range(6)]]
    result = score_site(bad, ruleset.scoring, assessed=True)
    assert result.score <= ruleset.scoring.verdict.rogue_max_score
    assert result.verdict == Verdict.rogue


def test_unassessed_site_is_unreachable(ruleset: RuleSet) -> None:
    assert score_site(LEGIT, ruleset.scoring, assessed=False).verdict == Verdict.unreachable
