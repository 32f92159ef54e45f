"""The one order of criteria and findings in every report format: red flags first.

Text, HTML, Markdown and the CSV's top findings read the same: what counts against a site
comes before what counts for it, and "sells medicines" (is it a shop at all) comes last."""

from __future__ import annotations

from collections.abc import Iterable

from pharmcheck.models import Finding, Report, Status

# The safety criteria first, in the order a reviewer checks them; "seller" last.
CRITERIA_ORDER = ["licensing", "prescription", "reviews", "identity", "commerce", "seller"]


def criterion_rank(name: str) -> tuple[int, str]:
    """Sort key of a criterion in fixed columns (audit tables): the order above, then by name."""
    return (CRITERIA_ORDER.index(name) if name in CRITERIA_ORDER else len(CRITERIA_ORDER), name)


def ordered_criteria(report: Report) -> list[str]:
    """A report's criteria as one site's report shows them: red flags first, then the order above."""
    return sorted(report.criteria, key=lambda n: (report.criteria[n].status != Status.red_flag, criterion_rank(n)))


def ordered_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings against the site first, the heaviest first; then those for it."""
    return sorted(findings, key=lambda f: (f.weight > 0, -abs(f.weight), f.rule_id))
