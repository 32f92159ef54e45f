"""SARIF 2.1.0: the findings against a site as results, for code-scanning dashboards.

One run per document (a `check`, or a whole audit); each rule that fired against a site is a
`reportingDescriptor`, each such finding a `result` whose locations are the pages of its
evidence (the words in `region.snippet`). Findings that count *for* a site are no problem to
report and are left out; so is the verdict itself, which is carried in each result's
`properties` and in the run's. A site that could not be assessed is a tool execution
notification, not a clean bill of health.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, TextIO

from pharmcheck import TOOL_NAME, TOOL_URL, __version__
from pharmcheck.models import AuditRun, Finding, Report, Severity, Verdict
from pharmcheck.report.format import Format, RenderOptions, register_format
from pharmcheck.report.order import ordered_findings

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
# SARIF levels: a red flag is an error, a lesser finding against the site a warning or a note.
_LEVEL = {Severity.critical: "error", Severity.high: "error", Severity.medium: "warning",
          Severity.low: "note", Severity.info: "note"}
# security-severity (0-10) is what GitHub code scanning sorts and labels results by.
_SECURITY_SEVERITY = {Severity.critical: "9.5", Severity.high: "8.0", Severity.medium: "5.0",
                      Severity.low: "3.0", Severity.info: "1.0"}


def _rule(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.rule_id,
        "name": "".join(part.capitalize() for part in finding.rule_id.split("-")),
        "shortDescription": {"text": finding.name or finding.message},
        "fullDescription": {"text": finding.message},
        "defaultConfiguration": {"level": _LEVEL[finding.severity]},
        "properties": {
            "criterion": finding.criterion,
            "severity": finding.severity.value,
            "security-severity": _SECURITY_SEVERITY[finding.severity],
            "tags": ["pharmacy", finding.criterion],
        },
    }


def _fingerprint(report: Report, finding: Finding) -> str:
    # Stable across runs for one rule on one site, so a dashboard tracks it instead of
    # opening a new alert per audit.
    return hashlib.sha256(f"{finding.rule_id}\0{report.url}".encode()).hexdigest()[:32]


def _result(report: Report, finding: Finding, rule_index: int) -> dict[str, Any]:
    pages = finding.evidence or []
    locations = [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": e.url},
                "region": {"snippet": {"text": " ".join(e.text.split())}},
            },
        }
        for e in pages
    ] or [{"physicalLocation": {"artifactLocation": {"uri": report.final_url or report.url}}}]
    return {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity],
        "message": {"text": f"{report.url}: {finding.message} ({finding.severity.value}, "
                            f"{finding.confidence.value} confidence; verdict {report.verdict.value})"},
        "locations": locations,
        "partialFingerprints": {"pharmcheck/site-rule/v1": _fingerprint(report, finding)},
        "properties": {"site": report.url, "verdict": report.verdict.value, "score": report.score,
                       "criterion": finding.criterion, "weight": finding.weight,
                       "confidence": finding.confidence.value},
    }


def sarif_document(reports: Iterable[Report], command_line: str | None = None) -> dict[str, Any]:
    """The SARIF log of one or more site reports, as a JSON-able dict."""
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    verdicts: dict[str, int] = {}
    rules_versions: set[str] = set()
    for report in reports:
        verdicts[report.verdict.value] = verdicts.get(report.verdict.value, 0) + 1
        rules_versions.add(report.tool.rules_version)
        if report.verdict == Verdict.unreachable:
            reasons = "; ".join(f"{e.code.value}: {e.message}" for e in report.errors[:3]) or "no page could be read"
            notifications.append({
                "level": "warning",
                "message": {"text": f"{report.url}: could not assess ({reasons})"},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": report.url}}}],
            })
            continue
        for finding in ordered_findings(report.findings):
            if finding.weight >= 0:
                continue
            if finding.rule_id not in rule_index:
                rule_index[finding.rule_id] = len(rules)
                rules.append(_rule(finding))
            results.append(_result(report, finding, rule_index[finding.rule_id]))
    invocation: dict[str, Any] = {"executionSuccessful": True, "toolExecutionNotifications": notifications}
    if command_line:
        invocation["commandLine"] = command_line
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": TOOL_NAME,
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": TOOL_URL,
                "rules": rules,
                "properties": {"rulesVersions": sorted(rules_versions)},
            }},
            "invocations": [invocation],
            "results": results,
            "properties": {"verdicts": verdicts},
        }],
    }


def render_sarif(reports: Iterable[Report] | Report, command_line: str | None = None) -> str:
    if isinstance(reports, Report):
        reports = [reports]
    return json.dumps(sarif_document(reports, command_line), indent=2, ensure_ascii=False) + "\n"


class SarifFormat(Format):
    """SARIF 2.1.0 for code-scanning tools: one result per finding."""

    name = "sarif"
    media_type = "application/sarif+json"
    site = True
    run = True

    def render_site(self, report: Report, options: RenderOptions) -> str:
        return render_sarif(report)

    def write_run(self, out: TextIO, run: AuditRun, reports: Iterable[Report], options: RenderOptions) -> None:
        out.write(render_sarif(reports))


register_format(SarifFormat())
