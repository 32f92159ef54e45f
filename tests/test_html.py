"""HTML report without a browser: escaping, defanging, the CSP, self-containment, live links."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html import unescape
from html.parser import HTMLParser

import pytest

from pharmcheck.models import (
    AuditRun,
    Confidence,
    CriterionResult,
    ErrorCode,
    Evidence,
    FetchError,
    Finding,
    PageInfo,
    Report,
    Severity,
    Status,
    ToolInfo,
    Verdict,
)
from pharmcheck.report.html import HEATMAP_MAX_SITES, embed_json, render_audit_html, render_site_html

TOOL = ToolInfo(name="pharmcheck", version="9.9.9", rules_version="2099.1.0")
PAYLOAD_TITLE = '<script>window.__pwned=1</script>"><img src=x onerror=alert(1)>'
PAYLOAD_TEXT = 'Buy now </script><!-- <script>alert(2)</script> \u2028\u2029 "><svg onload=alert(3)> & more'
EVIL = "https://evil-shop.example/cart?x=1"


def finding(text: str, url: str = EVIL, weight: float = -20, criterion: str = "commerce") -> Finding:
    return Finding(rule_id="COM-CRYPTO-PAYMENT", criterion=criterion, name="Takes crypto", severity=Severity.high,
                   confidence=Confidence.high, weight=weight, message="Takes cryptocurrency",
                   evidence=[Evidence(url=url, text=text)])


def hostile_report() -> Report:
    bad = finding(PAYLOAD_TEXT)
    js = finding("see javascript:alert(4) and https://other-rogue.example/x", url="javascript:alert(5)")
    return Report(
        url=EVIL, final_url="https://evil-shop.example/landing", verdict=Verdict.rogue, score=3,
        summary="rogue: " + PAYLOAD_TEXT,
        criteria={"commerce": CriterionResult(status=Status.red_flag, score=10, findings=[bad, js]),
                  "licensing": CriterionResult(status=Status.unknown, score=50)},
        findings=[bad, js],
        pages=[PageInfo(url=EVIL, status=200, content_type="text/html", bytes=10, title=PAYLOAD_TITLE)],
        errors=[FetchError(code=ErrorCode.timeout, url=EVIL + "/x", message=PAYLOAD_TITLE)],
        tool=TOOL, checked_at="2026-11-25T10:00:00+00:00",
    )


def plain_report(n: int, verdict: Verdict = Verdict.legitimate, score: int = 80) -> Report:
    good = finding("Registered with the regulator.", url=f"https://shop{n}.example/about", weight=15, criterion="licensing")
    return Report(url=f"https://shop{n}.example/", final_url=f"https://shop{n}.example/", verdict=verdict, score=score,
                  criteria={"licensing": CriterionResult(status=Status.met, score=70, findings=[good])},
                  findings=[good], tool=TOOL)


RUN = AuditRun(id=42, input="pharmacies <b>list</b>.txt", tool=TOOL, started_at="2026-11-25T09:00:00+00:00",
               finished_at="2026-11-25T09:30:00+00:00", total=3)


class Scan(HTMLParser):
    """Tags, attributes, script and style contents of a document."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = tag
            if tag == "script":
                self.scripts.append((dict(attrs), ""))
            else:
                self.styles.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        elif self._in == "style":
            self.styles[-1] += data


def rendered() -> list[str]:
    hostile = hostile_report()
    return [render_site_html(hostile), render_audit_html(RUN, [hostile, plain_report(1), plain_report(2)])]


@pytest.mark.parametrize("html", rendered(), ids=["site", "audit"])
def test_site_text_never_becomes_markup(html: str) -> None:
    scan = Scan(html)
    assert not [t for t, _ in scan.tags if t in ("img", "iframe", "object", "embed", "base")]
    assert all("action" not in attrs for t, attrs in scan.tags if t == "form")
    assert not [(t, a) for t, attrs in scan.tags for a in attrs if a.startswith("on")]  # no event handlers
    assert "<svg onload" not in html
    # our own scripts only: none in a site report, the data block and the app in an audit
    assert len(scan.scripts) in (0, 2)
    assert "<script>window.__pwned" not in html and "<script>alert(2)" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html or "\\u003cscript\\u003ewindow.__pwned" in html


def test_site_report_escapes_every_field_and_needs_no_script() -> None:
    html = render_site_html(hostile_report())
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # page title and error message
    assert "Buy now &lt;/script&gt;&lt;!-- &lt;script&gt;alert(2)&lt;/script&gt;" in html  # evidence and summary
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert csp and "script-src 'none'" in unescape(csp.group(1))
    assert "<script" not in html


def test_json_data_cannot_end_its_script_element_and_round_trips() -> None:
    html = render_audit_html(RUN, [hostile_report()])
    scan = Scan(html)
    data_attrs, data_text = scan.scripts[0]
    assert data_attrs == {"type": "application/json", "id": "pc-data"}
    for forbidden in ("<", ">", "&", "\u2028", "\u2029"):
        assert forbidden not in data_text
    data = json.loads(data_text)
    site = data["sites"][0]
    assert site["p"][0][2] == PAYLOAD_TITLE  # lossless: the browser shows exactly what the site wrote
    assert data["rules"][0][0] == "COM-CRYPTO-PAYMENT"
    assert PAYLOAD_TEXT in [e[1] for f in site["F"] for e in f[2]]
    assert embed_json("</script><!--") == '"\\u003c/script\\u003e\\u003c!--"'


@pytest.mark.parametrize("html", rendered(), ids=["site", "audit"])
def test_csp_forbids_everything_external_and_allows_only_our_inline_code(html: str) -> None:
    head = html.split("<head>", 1)[1]
    assert head.lstrip().startswith('<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy"')  # before any script or style
    meta = re.search(r'Content-Security-Policy" content="([^"]+)"', html)
    assert meta
    csp = dict(d.strip().split(" ", 1) for d in unescape(meta.group(1)).split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["base-uri"] == "'none'" and csp["form-action"] == "'none'"
    assert "unsafe-inline" not in html.split("<style>")[0]
    scan = Scan(html)

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert csp["style-src"] == sha(scan.styles[0])
    code = [text for attrs, text in scan.scripts if not attrs]
    assert csp["script-src"] == (sha(code[0]) if code else "'none'")


@pytest.mark.parametrize("html", rendered(), ids=["site", "audit"])
def test_self_contained_no_external_urls(html: str) -> None:
    scan = Scan(html)
    for tag, attrs in scan.tags:
        for name in ("src", "href", "xlink:href", "action", "data", "poster"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("#", "data:")), (tag, name, value)  # defanged: no live link at all
    assert not re.search(r"url\((?!#)", "".join(scan.styles)) and "@import" not in "".join(scan.styles)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", html.replace("hxxp", ""))  # no live URL anywhere


def test_urls_of_audited_sites_are_defanged() -> None:
    site, audit = rendered()
    for html in (site, audit):
        assert "hxxps://evil-shop[.]example/cart?x=1" in html
        assert "evil-shop.example" not in html
        assert "hxxps://other-rogue[.]example/x" in html  # URLs inside evidence text too
        assert "javascript:alert(5)" in html  # a non-web address is shown as it is (as text, see below)
    assert "evil-shop[.]example/landing" in site  # the final URL after redirects


def test_live_links_are_clickable_but_only_for_http() -> None:
    hostile = hostile_report()
    site = render_site_html(hostile, live_links=True)
    hrefs = [a["href"] for t, a in Scan(site).tags if t == "a" and a.get("href") and not a["href"].startswith("#")]
    assert EVIL.replace("&", "&amp;") in site
    assert set(hrefs) == {EVIL, "https://evil-shop.example/landing"}
    assert all(h.startswith("https://") for h in hrefs)  # the javascript: evidence URL is text, not a link
    assert "javascript:alert(5)" in site
    assert 'rel="noopener noreferrer nofollow"' in site
    audit = render_audit_html(RUN, [hostile], live_links=True)
    data = json.loads(Scan(audit).scripts[0][1])
    assert data["live"] is True and data["sites"][0]["u"] == EVIL


def test_audit_header_counts_and_charts() -> None:
    reports = [plain_report(1), plain_report(2, Verdict.rogue, 5), hostile_report()]
    html = render_audit_html(RUN, reports)
    text = re.sub(r"<[^>]+>", " ", html.split("<main", 1)[0])
    assert "Audit #42" in text
    assert "pharmacies &lt;b&gt;list&lt;/b&gt;.txt" in html  # the input name is escaped too
    assert "pharmcheck 9.9.9" in text and "2099.1.0" in text
    assert "2026-11-25 09:00 UTC" in text and "2026-11-25 09:30 UTC" in text
    assert re.search(r"<strong>2</strong>\s*<span class=\"badge v-rogue\">", html)
    assert re.search(r"<strong>1</strong>\s*<span class=\"badge v-legitimate\">", html)
    assert html.count('<svg class="chart') == 4
    assert html.count('<rect class="cell') == 3 * 2  # heat map: one cell per site and criterion
    assert "COM-CRYPTO-PAYMENT" in html.split('id="pc-data"')[0]  # the top-rules chart


def test_big_audits_summarise_the_heat_map_per_criterion() -> None:
    reports = [plain_report(n) for n in range(HEATMAP_MAX_SITES + 1)]
    html = render_audit_html(RUN, reports)
    assert html.count('<rect class="cell') == 1  # one status mix bar per criterion (here one criterion)
    assert "the chart shows each criterion's mix" in html
    assert len(json.loads(Scan(html).scripts[0][1])["sites"]) == HEATMAP_MAX_SITES + 1


def test_rendering_is_a_pure_function() -> None:
    reports = [hostile_report(), plain_report(1)]
    assert render_audit_html(RUN, reports) == render_audit_html(RUN, iter(reports))
    assert render_site_html(reports[0]) == render_site_html(reports[0])


def test_empty_audit_renders() -> None:
    html = render_audit_html(RUN.model_copy(update={"total": 0}), [])
    assert "No rule fired on any site." in html
    assert json.loads(Scan(html).scripts[0][1])["sites"] == []


def test_criterion_labels_come_with_the_reports() -> None:
    from pharmcheck.check import CheckContext, check_site
    from pharmcheck.fetch import ArchiveIndex
    from pharmcheck.models import AuditRun
    from pharmcheck.report.html import render_audit_html, render_site_html
    from pharmcheck.ruleset import RuleSet
    from sitekit import EXAMPLES

    ruleset = RuleSet.load()
    report = check_site("https://cheap-meds-24.example/",
                        CheckContext(ruleset=ruleset, archive=ArchiveIndex(EXAMPLES / "cheap-meds-24.warc.gz")))
    assert report.criteria["identity"].label == ruleset.scoring.criteria["identity"].label
    report.criteria["identity"].label = "Who runs the shop"
    assert "Who runs the shop" in render_site_html(report)
    run = AuditRun(id=1, input="x.txt", tool=report.tool, started_at=report.checked_at)
    assert "Who runs the shop" in render_audit_html(run, [report])
