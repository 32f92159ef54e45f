"""Human text: the verdict first, then each criterion with its findings and evidence."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from pharmcheck.models import Report, Status
from pharmcheck.report.facts import describe_fact
from pharmcheck.report.format import Format, RenderOptions, register_format
from pharmcheck.report.order import ordered_criteria, ordered_findings
from pharmcheck.score import SELLER

_STATUS_MARK = {Status.met: "✓ met", Status.not_met: "✗ not met", Status.red_flag: "⚑ RED FLAG", Status.unknown: "? unknown"}
EVIDENCE_SHOWN = 2  # per finding; the JSON report has all of it
# Control characters from a site (an ESC starts a terminal command) never reach the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
CONTRIBUTIONS_SHOWN = 5  # of the fitted verdict's deciding features; JSON has all of them


def _safe(text: str) -> str:
    return _CONTROL.sub("\ufffd", text)


def _plain(text: str, role: str) -> str:
    return text


def render_text(report: Report, paint: Callable[[str, str], str] = _plain) -> str:
    """The report as text; `paint(text, role)` may colour parts of it (console.painter)."""
    verdict = report.verdict.value
    lines = [
        paint(_safe(report.url), "url"),
        f"  verdict: {paint(verdict.upper(), verdict)}   "
        + (f"score: {report.score}/100" if report.score is not None else "score: none (not assessed)"),
        f"  {_safe(report.summary)}" if report.summary else "",
    ]
    if report.final_url != report.url:
        lines.append(f"  final URL: {paint(_safe(report.final_url), 'url')}")
    if report.confidence is not None:
        toward = report.contributions[0].toward.replace("_", " ") if report.contributions else report.verdict.value
        lines.append(f"  confidence: {report.confidence:.0%} {toward}; decided by:")
        for c in report.contributions[:CONTRIBUTIONS_SHOWN]:
            sign = "+" if c.weight > 0 else "−"
            lines.append(f"    {sign}{abs(c.weight):.2f} {c.feature}" + (f"  {_safe(' '.join(c.detail.split()))}" if c.detail else ""))
    lines.append("")
    for name in ordered_criteria(report):
        crit = report.criteria[name]
        lines.append(f"{name:<13} {paint(f'{_STATUS_MARK[crit.status]:<12}', crit.status.value)} {crit.score:>3}/100")
        shown = 1 if name == SELLER else EVIDENCE_SHOWN  # "is it a shop" needs one quote a finding
        for f in ordered_findings(crit.findings):
            sign = paint("+", "for") if f.weight > 0 else paint("−", "against")
            lines.append(f"  {sign} [{f.rule_id}] {f.message} ({f.severity.value}, {f.confidence.value} confidence)")
            for ev in f.evidence[:shown]:
                lines.append(f"      {paint(_safe(ev.url), 'muted')}")
                lines.append(f"        “{_safe(' '.join(ev.text.split()))}”")
            if len(f.evidence) > shown:
                lines.append(f"      (+{len(f.evidence) - shown} more in --format json)")
    if report.facts:
        lines.append("")
        lines.append("facts:")
        for fact in report.facts:
            lines.append(f"  {fact.provider:<9} {_safe(fact.subject)}: {_safe(describe_fact(fact))}")
    ok = report.pages_read
    lines.append("")
    languages = Counter(p.language for p in report.pages if p.language)
    spoken = ", ".join(f"{code} ({n})" for code, n in languages.most_common())
    rendered = sum(1 for p in report.pages if p.rendered)
    lines.append(f"pages: {ok} read of {len(report.pages)} tried" + (f" ({rendered} rendered by the browser)" if rendered else "")
                 + (f"  ·  languages: {spoken}" if spoken else ""))
    for err in report.errors:
        lines.append(f"  error [{paint(err.code.value, 'against')}] {_safe(err.url)}: {_safe(err.message)}")
    lines.append(
        f"{report.tool.name} {report.tool.version}, rules {report.tool.rules_version}"
        "  ·  a verdict is a risk signal from public page content, not legal advice"
    )
    return "\n".join(line for line in lines if line is not None) + "\n"


class TextFormat(Format):
    """Human text for one site (the default of `check`)."""

    name = "text"
    media_type = "text/plain; charset=utf-8"
    site = True

    def render_site(self, report: Report, options: RenderOptions) -> str:
        return render_text(report)


register_format(TextFormat())
