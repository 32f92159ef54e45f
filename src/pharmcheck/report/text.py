"""Human text: the verdict first, then each criterion with its findings and evidence."""

from __future__ import annotations

from pharmcheck.models import Report, Status

_STATUS_MARK = {Status.met: "✓ met", Status.not_met: "✗ not met", Status.red_flag: "⚑ RED FLAG", Status.unknown: "? unknown"}
EVIDENCE_SHOWN = 3  # per finding; the JSON report has all of it
_CRITERIA_ORDER = ["seller", "licensing", "prescription", "reviews", "identity", "commerce"]


def render_text(report: Report) -> str:
    lines = [
        f"{report.url}",
        f"  verdict: {report.verdict.value.upper()}   score: {report.score}/100",
        f"  {report.summary}" if report.summary else "",
    ]
    if report.final_url != report.url:
        lines.append(f"  final URL: {report.final_url}")
    lines.append("")
    names = sorted(report.criteria, key=lambda n: (_CRITERIA_ORDER.index(n) if n in _CRITERIA_ORDER else 99, n))
    for name in names:
        crit = report.criteria[name]
        lines.append(f"{name:<13} {_STATUS_MARK[crit.status]:<12} {crit.score:>3}/100")
        for f in crit.findings:
            sign = "+" if f.weight > 0 else "−"
            lines.append(f"  {sign} [{f.rule_id}] {f.message} ({f.severity.value}, {f.confidence.value} confidence)")
            for ev in f.evidence[:EVIDENCE_SHOWN]:
                lines.append(f"      {ev.url}")
                lines.append(f"        “{' '.join(ev.text.split())}”")
            if len(f.evidence) > EVIDENCE_SHOWN:
                lines.append(f"      (+{len(f.evidence) - EVIDENCE_SHOWN} more in --format json)")
    ok = sum(1 for p in report.pages if p.status and p.status < 400 and not p.error)
    lines.append("")
    lines.append(f"pages: {ok} read of {len(report.pages)} tried")
    for err in report.errors:
        lines.append(f"  error [{err.code.value}] {err.url}: {err.message}")
    lines.append(
        f"{report.tool.name} {report.tool.version}, rules {report.tool.rules_version}"
        "  ·  a verdict is a risk signal from public page content, not legal advice"
    )
    return "\n".join(line for line in lines if line is not None) + "\n"
