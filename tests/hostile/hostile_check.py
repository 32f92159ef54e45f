"""Helpers of the hostile-site tests: small limits, one call from URL to report."""

from __future__ import annotations

from pharmcheck.check import CheckContext, check_site
from pharmcheck.models import FetchOptions, Report
from pharmcheck.ruleset import RuleSet

# Small limits keep every test fast; the bounds must hold at any size.
SITE_TIMEOUT = 3.0
TIMEOUT = 1.0


def options(**overrides: object) -> FetchOptions:
    values: dict[str, object] = {
        "allow_private": True, "site_timeout": SITE_TIMEOUT, "timeout": TIMEOUT, "max_pages": 8,
    }
    values.update(overrides)
    return FetchOptions.model_validate(values)


def check(url: str, ruleset: RuleSet, **overrides: object) -> Report:
    return check_site(url, CheckContext(ruleset=ruleset, options=options(**overrides)))


def codes(report: Report) -> set[str]:
    return {e.code.value for e in report.errors}
