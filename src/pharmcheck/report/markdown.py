"""Markdown, for tickets and pull requests: the verdict, a table of criteria, then the findings
with their evidence, red flags first (the order of the text report).

Everything a site wrote is escaped so that it stays text: no link, image, HTML tag or table
cell can come out of a page's words. Site addresses are defanged (`hxxps://shop[.]example`)
unless `live_links`, so a ticket about a rogue shop does not become a link to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TextIO

from pharmcheck.models import AuditRun, Report, Status
from pharmcheck.report.facts import describe_fact
from pharmcheck.report.format import Format, RenderOptions, register_format
from pharmcheck.report.order import criteria_order, ordered_criteria, ordered_findings
from pharmcheck.urls import defang

_STATUS = {Status.met: "✓ met", Status.not_met: "✗ not met", Status.red_flag: "⚑ **red flag**", Status.unknown: "? unknown"}
_VERDICT_MARK = {"legitimate": "✓", "suspicious": "!", "rogue": "✕", "not_pharmacy": "–", "unreachable": "?"}
EVIDENCE_SHOWN = 3  # per finding; the JSON report has all of it
_MAX_QUOTE = 300
# What can start emphasis, code, a link or image, raw HTML, an entity, a table cell or a
# strike-through inside a line. (Site text never starts a line here, so list and heading
# markers cannot take effect.)
_SPECIAL = re.compile(r"([\\`*_\[\]|~!])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}  # raw HTML and entities: written as entities
# Bare addresses that GitHub would turn into links by itself (GFM extended autolinks).
_AUTOLINK = re.compile(r"\b(?:https?://[^\s<>\"'“”‘’]+|www\.[^\s<>\"'“”‘’]+)", re.IGNORECASE)


def escape(text: str, limit: int = _MAX_QUOTE, live_links: bool = False) -> str:
    """Site text as inert Markdown on one line, at most `limit` characters; addresses in it
    are defanged unless `live_links`."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    if not live_links:
        flat = _AUTOLINK.sub(lambda m: defang(m.group(0)) if "://" in m.group(0) else m.group(0).replace(".", "[.]"), flat)
    flat = re.sub(r"[&<>]", lambda m: _ENTITIES[m.group(0)], flat)
    return _SPECIAL.sub(r"\\\1", flat)


def _address(url: str, live_links: bool) -> str:
    if live_links and url.lower().startswith(("http://", "https://")):
        return f"<{url.replace('>', '%3E').replace(' ', '%20')}>"
    shown = defang(url) if url.lower().startswith(("http://", "https://")) else url
    return "`" + shown.replace("`", "'") + "`"


def _score(report: Report) -> str:
    return f"{report.score}/100" if report.score is not None else "no score (not assessed)"


def render_markdown(report: Report, live_links: bool = False, heading: str = "##") -> str:
    mark = _VERDICT_MARK.get(report.verdict.value, "")
    lines = [f"{heading} {mark} {report.verdict.value.upper()}: {_address(report.url, live_links)} · {_score(report)}", ""]
    if report.summary:
        lines += [f"> {escape(report.summary, 600, live_links)}", ""]
    if report.final_url != report.url:
        lines += [f"Final URL: {_address(report.final_url, live_links)}", ""]
    names = ordered_criteria(report)
    lines += ["| Criterion | Status | Score |", "|---|---|---:|"]
    for name in names:
        crit = report.criteria[name]
        lines.append(f"| {escape(crit.label or name)} | {_STATUS[crit.status]} | {crit.score}/100 |")
    lines.append("")
    for name in names:
        crit = report.criteria[name]
        if not crit.findings:
            continue
        lines += [f"{heading}# {escape(crit.label or name)}: {_STATUS[crit.status]}", ""]
        for f in ordered_findings(crit.findings):
            sign = "+" if f.weight > 0 else "−"
            lines.append(f"- **{sign}** `{f.rule_id}` {escape(f.message, live_links=live_links)} "
                         f"({f.severity.value}, {f.confidence.value} confidence)")
            for ev in f.evidence[:EVIDENCE_SHOWN]:
                lines.append(f"  - {_address(ev.url, live_links)}: “{escape(ev.text, live_links=live_links)}”")
            if len(f.evidence) > EVIDENCE_SHOWN:
                lines.append(f"  - (+{len(f.evidence) - EVIDENCE_SHOWN} more in `--format json`)")
        lines.append("")
    if report.facts:
        lines += [f"{heading}# Site facts", ""]
        lines += [f"- `{fact.provider}` {escape(fact.subject, live_links=live_links)}: "
                  f"{escape(describe_fact(fact), live_links=live_links)}" for fact in report.facts]
        lines.append("")
    read = report.pages_read
    lines.append(f"Pages: {read} read of {len(report.pages)} tried.")
    for err in report.errors:
        lines.append(f"- error `{err.code.value}` {_address(err.url, live_links)}: {escape(err.message, live_links=live_links)}")
    lines += ["", f"<sub>{report.tool.name} {report.tool.version}, rules {report.tool.rules_version} · "
                  "a verdict is a risk signal from public page content, not legal advice</sub>", ""]
    return "\n".join(lines)


def render_markdown_audit(run: AuditRun, reports: Iterable[Report], live_links: bool = False) -> str:
    """An audit: counts per verdict, a table of sites (worst first), then each site with a red
    flag or a suspicious verdict in full."""
    reports = list(reports)
    counts: dict[str, int] = {}
    for r in reports:
        counts[r.verdict.value] = counts.get(r.verdict.value, 0) + 1
    order = ["rogue", "suspicious", "unreachable", "not_pharmacy", "legitimate"]
    columns = criteria_order(name for r in reports for name in r.criteria)
    labels = {name: next((r.criteria[name].label for r in reports if name in r.criteria and r.criteria[name].label), name)
              for name in columns}
    lines = [f"# Audit #{run.id}: {len(reports)} site{'' if len(reports) == 1 else 's'}", "",
             f"Input: {escape(run.input)} · "
             f"{run.tool.name} {run.tool.version}, rules {run.tool.rules_version} · started {run.started_at}", "",
             " · ".join(f"{_VERDICT_MARK[v]} {v}: {counts[v]}" for v in order if counts.get(v)) or "no sites", ""]
    ranked = sorted(reports, key=lambda r: (order.index(r.verdict.value) if r.verdict.value in order else 9,
                                            r.score if r.score is not None else 101))
    lines.append("| Site | Verdict | Score | " + " | ".join(escape(labels[n]) for n in columns) + " |")
    lines.append("|---|---|---:|" + "---|" * len(columns))
    for r in ranked:
        cells = [_address(r.url, live_links), f"{_VERDICT_MARK.get(r.verdict.value, '')} {r.verdict.value}",
                 str(r.score) if r.score is not None else "—"]
        cells += [_STATUS[r.criteria[n].status] if n in r.criteria else "" for n in columns]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for r in ranked:
        if r.verdict.value in ("rogue", "suspicious"):
            lines.append(render_markdown(r, live_links, heading="##"))
    return "\n".join(lines).rstrip("\n") + "\n"


class MarkdownFormat(Format):
    """Markdown for tickets and pull requests: one site, or a run's summary table and sites."""

    name = "markdown"
    media_type = "text/markdown; charset=utf-8"
    site = True
    run = True

    def render_site(self, report: Report, options: RenderOptions) -> str:
        return render_markdown(report, live_links=options.live_links)

    def write_run(self, out: TextIO, run: AuditRun, reports: Iterable[Report], options: RenderOptions) -> None:
        out.write(render_markdown_audit(run, reports, options.live_links))


register_format(MarkdownFormat())
