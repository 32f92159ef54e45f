"""The one order of criteria and findings in every report format: red flags first.

Text, HTML, Markdown and the CSV's top findings read the same: what counts against a site
comes before what counts for it, and "sells medicines" (is it a shop at all) comes last."""

from __future__ import annotations

from collections.abc import Iterable

from pharmcheck.models import Finding, Report, Status
from pharmcheck.score import SELLER


def criteria_order(names: Iterable[str]) -> list[str]:
    """Criterion names as the reports list them: in scoring.yaml's order (the order of every
    report's `criteria`, the only place criteria are named), except that "sells medicines"
    (is it a shop at all, not a safety mark) comes last. Duplicates are dropped."""
    unique = list(dict.fromkeys(names))
    return [n for n in unique if n != SELLER] + [n for n in unique if n == SELLER]


def ordered_criteria(report: Report) -> list[str]:
    """A report's criteria as one site's report shows them: red flags first, then the order above."""
    order = criteria_order(report.criteria)
    return sorted(order, key=lambda n: (report.criteria[n].status != Status.red_flag, order.index(n)))


def ordered_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings against the site first, the heaviest first; then those for it."""
    return sorted(findings, key=lambda f: (f.weight > 0, -abs(f.weight), f.rule_id))
