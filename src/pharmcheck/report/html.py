"""HTML reports: one self-contained file for a site or for a whole audit.

The output opens from disk with the network off: CSS, JS and SVG charts are inline, and a
Content-Security-Policy meta tag forbids loading anything else (the one script and the one
stylesheet are allowed by their sha256 hash, so no randomness and no 'unsafe-inline').
Everything a site wrote (titles, evidence, URLs, error messages) is untrusted: it reaches
the page only through jinja2 autoescaping, or as JSON in a `<script type="application/json">`
block with `<`, `>`, `&` and U+2028/2029 escaped, which the page's script turns into DOM
text nodes (never innerHTML). Links to audited sites are defanged unless `live_links`.

Rendering is a pure function of its arguments: same run and reports, same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TextIO

from markupsafe import Markup

from pharmcheck.models import AuditRun, Report, Status, Verdict
from pharmcheck.report.facts import describe_fact
from pharmcheck.report.format import Format, RenderOptions, register_format
from pharmcheck.report.order import criteria_order, ordered_criteria, ordered_findings
from pharmcheck.urls import defang, without_scheme

if TYPE_CHECKING:
    from jinja2 import Environment

# Worst first: the order of the verdict chart, and of "sort by verdict".
VERDICT_ORDER = [Verdict.rogue, Verdict.suspicious, Verdict.unreachable, Verdict.not_pharmacy, Verdict.legitimate]
_VERDICT_META: dict[str, dict[str, str]] = {
    "rogue": {"icon": "✕", "label": "Rogue"},
    "suspicious": {"icon": "!", "label": "Suspicious"},
    "unreachable": {"icon": "?", "label": "Unreachable"},
    "not_pharmacy": {"icon": "–", "label": "Not a pharmacy"},
    "legitimate": {"icon": "✓", "label": "Legitimate"},
}
STATUS_ORDER = [Status.red_flag, Status.not_met, Status.unknown, Status.met]
_STATUS_META: dict[str, dict[str, str]] = {
    "red_flag": {"icon": "⚑", "label": "red flag"},
    "not_met": {"icon": "✗", "label": "not met"},
    "unknown": {"icon": "?", "label": "unknown"},
    "met": {"icon": "✓", "label": "met"},
}

# Above this many sites the per-site heat map would be a smear of sub-pixel columns, so the
# chart shows each criterion's status mix instead (the table still has every site's cells).
HEATMAP_MAX_SITES = 300
HEATMAP_MIN_PLOT = 170  # px: room for the axis words under a few columns
_TOP_RULES = 10
_TOP_RULES_FOR_SITE = 3  # places kept for rules that raise a score, when red flags fill the chart
_URL_IN_TEXT = re.compile(r"\bhttps?://[^\s\"'<>“”‘’]+", re.IGNORECASE)


@cache
def _env() -> Environment:
    """The template environment, built on first use (jinja2 is imported only by HTML output)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("pharmcheck.report", "templates"),
        autoescape=True,  # on for every template whatever its extension
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # Icons and labels every template (and imported macro) needs.
    env.globals.update(verdicts=_VERDICT_META, statuses=_STATUS_META)
    return env


def _asset(name: str) -> str:
    loader = _env().loader
    assert loader is not None
    return loader.get_source(_env(), name)[0]


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _csp(style: str, script: str | None) -> str:
    # default-src 'none' covers fetch, images, fonts, frames, media and workers; base-uri and
    # form-action are not covered by it. frame-ancestors is ignored in a meta tag, so omitted.
    parts = ["default-src 'none'", f"style-src {_csp_hash(style)}", "img-src data:", "base-uri 'none'", "form-action 'none'"]
    parts.append(f"script-src {_csp_hash(script)}" if script else "script-src 'none'")
    return "; ".join(parts)


def embed_json(data: Any) -> Markup:
    """JSON safe inside a <script> element: no `</script>`, `<!--` or `]]>` can form, and the
    line separators that older JS parsers reject are escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return Markup(text)  # escaped above for the script-data context


def _is_web(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


class _Links:
    """How URLs of audited sites are shown: defanged text, or a real link to http(s) only."""

    def __init__(self, live: bool) -> None:
        self.live = live

    def text(self, url: str) -> str:
        # Only web addresses are defanged; anything else (a `javascript:` link a page held) is
        # shown as it is, as text, since urls.defang would reduce it to "javascript://".
        return defang(url) if not self.live and _is_web(url) else url

    def href(self, url: str) -> str | None:
        # Only ever http(s): a `javascript:` or `data:` URL never becomes a link, live or not.
        return url if self.live and _is_web(url) else None

    def in_text(self, text: str) -> str:
        return text if self.live else _URL_IN_TEXT.sub(lambda m: defang(m.group(0)), text)


def _criteria(reports: Iterable[Report]) -> dict[str, str]:
    """Every criterion of the reports, in display order, with its label."""
    labels: dict[str, str] = {}
    for r in reports:
        for name, result in r.criteria.items():
            if result.label or name not in labels:
                labels[name] = result.label
        for f in r.findings:
            labels.setdefault(f.criterion, "")
    # Labels come with the reports (rules/scoring.yaml); columns in the order of the text report.
    return {name: labels[name] or name.replace("_", " ").capitalize() for name in criteria_order(labels)}


def _when(stamp: str | None) -> str:
    if not stamp:
        return ""
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    text = parsed.strftime("%Y-%m-%d %H:%M")
    offset = parsed.utcoffset()
    if offset is not None:
        text += " UTC" if not offset else parsed.strftime(" %z")
    return text


def _short(shown_url: str) -> str:
    """The site column's label: the (possibly defanged) URL without scheme or a bare `/` path."""
    rest = without_scheme(shown_url)
    return rest[:-1] if rest.endswith("/") and rest.count("/") == 1 else rest


def site_view(report: Report, index: int, links: _Links, columns: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the drill-down shows about one site, as plain JSON-able data. `columns`
    (name -> label) fixes the criteria and their order (an audit lines every site up on the
    same columns)."""
    criteria = []
    columns = columns if columns is not None else _criteria([report])
    shots = _screenshots(report, links)
    for name, label in columns.items():
        result = report.criteria.get(name)
        findings = result.findings if result else [f for f in report.findings if f.criterion == name]
        criteria.append({
            "name": name,
            "label": label,
            "status": (result.status.value if result else Status.unknown.value),
            "score": result.score if result else None,
            "findings": [
                {
                    "rule": f.rule_id,
                    "name": f.name,
                    "message": f.message,
                    "severity": f.severity.value,
                    "confidence": f.confidence.value,
                    "weight": f.weight,
                    "evidence": [{"url": links.text(e.url), "raw_url": e.url, "href": links.href(e.url), "text": links.in_text(e.text),
                                  "shot": shots[e.url]["id"] if e.url in shots else None}
                                 for e in f.evidence],
                }
                for f in ordered_findings(findings)
            ],
        })
    read = report.pages_read
    final = report.final_url != report.url

    return {
        "i": index,
        "url": links.text(report.url),
        "href": links.href(report.url),
        "name": _short(links.text(report.url)),
        "final": links.text(report.final_url) if final else None,
        "final_href": links.href(report.final_url) if final else None,
        "verdict": report.verdict.value,
        "score": report.score,
        "summary": links.in_text(report.summary),
        "confidence": report.confidence,
        "contributions": [
            {"feature": c.feature, "weight": c.weight, "toward": c.toward, "detail": links.in_text(c.detail)}
            for c in report.contributions
        ],
        "checked_at": _when(report.checked_at),
        "duration": report.duration,
        "criteria": criteria,
        "read": read,
        "pages": [
            {"url": links.text(p.url), "raw_url": p.url, "href": links.href(p.url), "status": p.status,
             "title": p.title or "", "error": p.error.value if p.error else None, "language": p.language or "",
             "rendered": p.rendered}
            for p in report.pages
        ],
        # Only what has its image (a report read back from the audit database has digests only).
        "shots": list({id(s): s for s in shots.values()}.values()),
        "errors": [{"code": e.code.value, "url": links.text(e.url), "message": links.in_text(e.message)} for e in report.errors],
        "facts": [{"provider": f.provider, "subject": links.in_text(f.subject), "ok": f.ok,
                   "text": links.in_text(describe_fact(f)), "source": links.text(f.source) if _is_web(f.source) else f.source,
                   "href": links.href(f.source) if _is_web(f.source) else None}
                  for f in report.facts],
        "tool": f"{report.tool.name} {report.tool.version}, rules {report.tool.rules_version}",
    }


def _screenshots(report: Report, links: _Links) -> dict[str, dict[str, Any]]:
    """Page URL (as requested and as reached) -> its screenshot, inline as a data: URL (the
    report's CSP allows images from data: only, so it stays one self-contained file)."""
    shots: dict[str, dict[str, Any]] = {}
    for n, p in enumerate(report.pages):
        if p.screenshot is None or not p.screenshot.png:
            continue
        shot = {
            "id": f"shot-{n}",
            "src": "data:image/png;base64," + base64.b64encode(p.screenshot.png).decode("ascii"),
            "page": links.text(p.url),
            "width": p.screenshot.width,
            "height": p.screenshot.height,
            "capped": p.screenshot.capped,
            "rendered": p.rendered,
        }
        for url in (p.url, p.final_url):
            if url:
                shots.setdefault(url, shot)
    return shots


class _Packer:
    """Packs site views into the compact arrays the audit page embeds (expand() in report.js
    undoes it). Rule details and tool names are stored once, evidence points at its page by
    index, and hrefs are not stored (a live link's href is its text): 5,000 sites stay small."""

    def __init__(self) -> None:
        self.rules: list[list[Any]] = []
        self._rule_index: dict[tuple[Any, ...], int] = {}
        self.tools: list[str] = []

    def _rule(self, f: dict[str, Any]) -> int:
        key = (f["rule"], f["name"], f["severity"], f["confidence"], f["weight"], f["message"])
        if key not in self._rule_index:
            self._rule_index[key] = len(self.rules)
            self.rules.append(list(key))
        return self._rule_index[key]

    def _tool(self, tool: str) -> int:
        if tool not in self.tools:
            self.tools.append(tool)
        return self.tools.index(tool)

    def pack(self, v: dict[str, Any]) -> dict[str, Any]:
        page_index = {p["raw_url"]: n for n, p in enumerate(v["pages"])}
        packed: dict[str, Any] = {
            "u": v["url"], "n": v["name"], "v": v["verdict"], "s": v["score"], "d": v["duration"], "r": v["read"],
            "T": self._tool(v["tool"]),
            "c": [[c["status"], c["score"]] for c in v["criteria"]],
            "F": [
                [col, self._rule(f), [[page_index.get(e["raw_url"], e["url"]), e["text"]] for e in f["evidence"]]]
                for col, c in enumerate(v["criteria"]) for f in c["findings"]
            ],
            "p": [[p["url"], p["status"], p["title"], p["error"], p["language"]] for p in v["pages"]],
            "e": [[e["code"], e["url"], e["message"]] for e in v["errors"]],
        }
        # Optional fields only when present: absent keys cost nothing across thousands of sites.
        for key, field in (("f", "final"), ("m", "summary"), ("t", "checked_at")):
            if v[field]:
                packed[key] = v[field]
        if v["facts"]:
            packed["x"] = [[f["provider"], f["subject"], f["ok"], f["text"]] for f in v["facts"]]
        if v["confidence"] is not None:
            packed["k"] = [v["confidence"], [[c["feature"], c["weight"], c["toward"], c["detail"]] for c in v["contributions"]]]
        return packed


# --- charts (geometry here, drawing in templates/_charts.html.j2) ------------------------


def _verdict_chart(counts: Counter[str], total: int) -> list[dict[str, Any]]:
    top = max(counts.values(), default=0) or 1
    return [
        {"verdict": v.value, **_VERDICT_META[v.value], "count": counts[v.value],
         "pct": round(100 * counts[v.value] / total) if total else 0, "frac": counts[v.value] / top}
        for v in VERDICT_ORDER
    ]


def _score_histogram(scores: list[int | None]) -> list[dict[str, Any]]:
    """Sites per score band. Unassessed sites (no score) are not drawn: they are no band's."""
    bins = [0] * 10
    for s in scores:
        if s is not None:
            bins[min(s // 10, 9)] += 1
    top = max(bins) or 1
    return [{"lo": i * 10, "hi": i * 10 + 9 if i < 9 else 100, "count": n, "frac": n / top} for i, n in enumerate(bins)]


def _top_rules(reports: list[Report]) -> list[dict[str, Any]]:
    fired: Counter[str] = Counter()
    about: dict[str, tuple[str, float]] = {}
    for r in reports:
        for rule_id in {f.rule_id for f in r.findings}:
            fired[rule_id] += 1
        for f in r.findings:
            about.setdefault(f.rule_id, (f.name or f.message, f.weight))
    # Red flags first: rules against a site lead, the commonest first, and rules for a site fill
    # what is left (at least a few of them when there are), not the other way round.
    ranked = sorted(fired.items(), key=lambda item: (-item[1], item[0]))
    against = [(r, n) for r, n in ranked if about[r][1] < 0]
    for_site = [(r, n) for r, n in ranked if about[r][1] > 0]
    n_for = min(len(for_site), max(_TOP_RULES - len(against), _TOP_RULES_FOR_SITE))
    top = against[: _TOP_RULES - n_for] + for_site[:n_for]
    most = max((n for _, n in top), default=1)
    return [
        {"rule": rule_id, "name": about[rule_id][0], "sign": "+" if about[rule_id][1] > 0 else "−",
         "good": about[rule_id][1] > 0, "count": n, "frac": n / most, "pct": round(100 * n / len(reports))}
        for rule_id, n in top
    ]


def _heatmap(views: list[dict[str, Any]], columns: dict[str, str]) -> dict[str, Any]:
    # Labels come from the rules' data: the label column is as wide as the longest (12.5 px text).
    label_w = 12 + 7 * max((len(label) for label in columns.values()), default=8)
    if len(views) > HEATMAP_MAX_SITES:
        mix = []
        for col, name in enumerate(columns):
            counts = Counter(v["criteria"][col]["status"] for v in views if col < len(v["criteria"]))
            offset = 0.0
            parts = []
            for status in STATUS_ORDER:
                share = counts[status.value] / len(views)
                parts.append({"status": status.value, **_STATUS_META[status.value], "count": counts[status.value],
                              "x": offset, "w": share, "pct": round(100 * share)})
                offset += share
            mix.append({"name": name, "label": columns[name], "parts": parts})
        return {"per_site": False, "mix": mix, "label_w": label_w, "bar_w": 415 - label_w}
    # Lowest score first; unassessed sites (no score) after the highest.
    ordered = sorted(views, key=lambda v: (v["score"] is None, v["score"] or 0, v["i"]))
    cell = max(6, min(22, 720 // max(len(ordered), 1)))
    # With a few sites the columns are narrower than the axis words under them: the plot keeps
    # room for both ("lowest score" … "highest") and the chart is not scaled up past its size.
    plot_w = max(len(ordered) * cell, HEATMAP_MIN_PLOT)
    return {"per_site": True, "cell": cell, "label_w": label_w, "plot_w": plot_w, "sites": ordered,
            "names": [{"name": n, "label": label} for n, label in columns.items()]}


# --- public API ---------------------------------------------------------------------------


def _page(template: str, **context: Any) -> str:
    css = _asset("report.css")
    script = _asset("report.js") if context.get("with_script") else None
    return _env().get_template(template).render(
        css=Markup(css),  # our own file, not site text
        script=Markup(script) if script else None,  # our own file, not site text
        csp=_csp(css, script),
        **context,
    )


def render_site_html(report: Report, live_links: bool = False) -> str:
    """One site: its drill-down is the page. Needs no script at all."""
    links = _Links(live_links)
    # One site: red flags first, as in the text report (an audit's columns stay fixed instead).
    labels = _criteria([report])
    view = site_view(report, 0, links, {name: labels[name] for name in ordered_criteria(report) if name in labels}
                     | labels)
    return _page("site.html.j2", site=view, live_links=live_links, with_script=False)


_MATRIX_MAX = 600  # pixels of a network's adjacency matrix (200 members: 3 px a cell)


def network_views(networks: dict[str, Any], index_of: dict[str, int], links: _Links) -> dict[str, Any]:
    """The run's networks (as `audit networks --format json` has them) for the HTML view: each
    member with its drill-down index and links, and an adjacency matrix."""
    out = []
    for net in networks.get("networks", []):
        members = net["members"]
        number = {m["url"]: k for k, m in enumerate(members)}
        per_member: dict[str, list[dict[str, Any]]] = {m["url"]: [] for m in members}
        n = len(members)
        cell = max(3, min(14, _MATRIX_MAX // max(n, 1)))
        cells = []
        for edge in net["edges"]:
            why = "; ".join(r["reason"] for r in edge["reasons"])
            a, b = number.get(edge["a"]), number.get(edge["b"])
            if a is None or b is None:
                continue
            per_member[edge["a"]].append({"other": b + 1, "weight": edge["weight"], "why": why})
            per_member[edge["b"]].append({"other": a + 1, "weight": edge["weight"], "why": why})
            title = f"#{a + 1} - #{b + 1}: {why}"
            opacity = round(0.25 + 0.75 * float(edge["weight"]), 2)
            cells.append({"x": b * cell, "y": a * cell, "o": opacity, "title": title})
            cells.append({"x": a * cell, "y": b * cell, "o": opacity, "title": title})
        out.append({
            "network": net["network"], "size": net["size"], "rogue": net["rogue"],
            "matrix": {"size": n * cell, "cell": cell, "cells": cells} if n >= 3 else None,
            "members": [{"text": links.text(m["url"]), "index": index_of.get(m["url"]), "verdict": m["verdict"],
                         "score": m["score"], "network_verdict": m["network_verdict"],
                         "network_score": m["network_score"],
                         "links": sorted(per_member[m["url"]], key=lambda x: -x["weight"])} for m in members],
        })
    return {"networks": out, "sites": networks.get("sites", 0), "commons": networks.get("commons", [])}


def change_views(changes: dict[str, Any], index_of: dict[str, int], links: _Links) -> dict[str, Any]:
    """The changes since the previous run (`audit.diff.change_rows`) with each site's link and row."""
    rows = [{**{k: v for k, v in row.items() if k != "url"}, "text": links.text(row["url"]),
             "index": index_of.get(row["url"])} for row in changes["rows"]]
    return {**changes, "rows": rows}


def render_audit_html(run: AuditRun, reports: Iterable[Report], live_links: bool = False,
                      networks: dict[str, Any] | None = None, changes: dict[str, Any] | None = None) -> str:
    """An audit: header, charts, a sortable, filterable, paged table, and per-site drill-downs
    built on demand from embedded data (so 5,000 sites still open quickly). `networks` (the
    run's, as stored) and `changes` (a diff against the previous run) add their sections."""
    reports = list(reports)
    links = _Links(live_links)
    columns = _criteria(reports)
    views = [site_view(r, i, links, columns) for i, r in enumerate(reports)]
    index_of = {r.url: i for i, r in enumerate(reports)}
    packer = _Packer()
    packed = [packer.pack(v) for v in views]
    counts = Counter(r.verdict.value for r in reports)
    rules_versions = sorted({r.tool.rules_version for r in reports} - {run.tool.rules_version})
    header = {
        "id": run.id,
        "input": run.input,
        "started": _when(run.started_at),
        "finished": _when(run.finished_at),
        "tool": f"{run.tool.name} {run.tool.version}",
        "rules_version": run.tool.rules_version,
        "other_rules_versions": rules_versions,
        "checked": len(reports),
        "total": run.total,
        "errors": sum(1 for r in reports if r.errors),
    }
    data = {
        "live": live_links,
        "criteria": [{"name": n, "label": label} for n, label in columns.items()],
        "rules": packer.rules,
        "tools": packer.tools,
        "sites": packed,
        "verdicts": _VERDICT_META,
        "statuses": _STATUS_META,
        "verdictOrder": [v.value for v in VERDICT_ORDER],
        "statusOrder": [s.value for s in STATUS_ORDER],
    }
    return _page(
        "audit.html.j2",
        run=header,
        names=data["criteria"],
        verdict_chart=_verdict_chart(counts, len(reports)),
        histogram=_score_histogram([r.score for r in reports]),
        unscored=sum(1 for r in reports if r.score is None),
        top_rules=_top_rules(reports),
        heatmap=_heatmap(views, columns),
        networks=network_views(networks, index_of, links) if networks is not None else None,
        changes=change_views(changes, index_of, links) if changes is not None else None,
        data=embed_json(data),
        live_links=live_links,
        with_script=True,
    )


class HtmlFormat(Format):
    """One self-contained page for a site or for a whole run (see the module docstring)."""

    name = "html"
    media_type = "text/html; charset=utf-8"
    site = True
    run = True

    def render_site(self, report: Report, options: RenderOptions) -> str:
        return render_site_html(report, live_links=options.live_links)

    def write_run(self, out: TextIO, run: AuditRun, reports: Iterable[Report], options: RenderOptions) -> None:
        out.write(render_audit_html(run, reports, options.live_links, **options.run_extras))


register_format(HtmlFormat())
