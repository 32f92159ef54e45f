"""Charts and reports that do not mislead: no made-up score for unreachable sites, red flags
first in every format, heat-map text that does not collide, criteria in one order."""

from __future__ import annotations

import re

from pharmcheck.models import (
    Confidence,
    CriterionResult,
    ErrorCode,
    Evidence,
    FetchError,
    Finding,
    Report,
    Severity,
    Status,
    Verdict,
)
from pharmcheck.report import render_text
from pharmcheck.report.html import HEATMAP_MIN_PLOT, render_audit_html, render_site_html
from pharmcheck.report.tabular import render_csv
from test_html import RUN, TOOL, plain_report


def unreachable(n: int) -> Report:
    return Report(url=f"https://gone{n}.example/", final_url=f"https://gone{n}.example/", verdict=Verdict.unreachable,
                  score=None, criteria={"licensing": CriterionResult(status=Status.unknown, score=50)},
                  errors=[FetchError(code=ErrorCode.dns, url=f"https://gone{n}.example/", message="DNS lookup failed")],
                  tool=TOOL)


def rule(rule_id: str, criterion: str, weight: float, severity: Severity = Severity.medium) -> Finding:
    return Finding(rule_id=rule_id, criterion=criterion, name=rule_id.lower(), severity=severity,
                   confidence=Confidence.high, weight=weight, message=f"message of {rule_id}",
                   evidence=[Evidence(url="https://shop.example/", text="words")])


def report_with(findings: list[Finding], n: int = 0, verdict: Verdict = Verdict.suspicious, score: int = 40) -> Report:
    criteria: dict[str, CriterionResult] = {}
    for name in ("seller", "licensing", "prescription", "commerce"):
        own = [f for f in findings if f.criterion == name]
        status = (Status.red_flag if any(f.weight < 0 and f.severity in (Severity.high, Severity.critical) for f in own)
                  else Status.met if own else Status.unknown)
        criteria[name] = CriterionResult(status=status, score=50, findings=own)
    return Report(url=f"https://shop{n}.example/", final_url=f"https://shop{n}.example/", verdict=verdict,
                  score=score, criteria=criteria, findings=findings, tool=TOOL)


def histogram_counts(html: str) -> list[int]:
    chart = html.split('aria-labelledby="hist-t"', 1)[1].split("</svg>", 1)[0]
    return [int(n) for n in re.findall(r"(\d+) sites?</title>", chart)]


def test_unreachable_sites_are_not_drawn_in_the_score_histogram() -> None:
    html = render_audit_html(RUN, [plain_report(1), unreachable(1), unreachable(2)])
    counts = histogram_counts(html)
    assert sum(counts) == 1  # the one assessed site; nothing at 50 for the two unreachable ones
    assert "2 unreachable sites are not drawn" in html


def test_unreachable_sites_have_no_score_in_the_csv_and_text() -> None:
    header, row = list(render_csv([unreachable(1)]))[:2]
    columns = header.strip().split(",")
    assert row.strip().split(",")[columns.index("score")] == ""
    assert "score: none (not assessed)" in render_text(unreachable(1))
    assert "no score (not assessed)" in render_site_html(unreachable(1))


def test_heat_map_with_few_sites_keeps_room_for_its_axis_words() -> None:
    html = render_audit_html(RUN, [plain_report(1), plain_report(2)])
    heat = html.split('class="chart heatmap"', 1)[1].split("</svg>", 1)[0]
    width = float(re.search(r'width="([\d.]+)"', heat).group(1))  # type: ignore[union-attr]
    low = float(re.search(r'<text class="tick" x="([\d.]+)"[^>]*>lowest score', heat).group(1))  # type: ignore[union-attr]
    high = float(re.search(r'<text class="tick end" x="([\d.]+)"[^>]*>highest', heat).group(1))  # type: ignore[union-attr]
    # "lowest score" (~65 px) starts at `low`, "highest" (~40 px) ends at `high`: they must not meet.
    assert high - low >= HEATMAP_MIN_PLOT >= 65 + 40 + 20
    assert width >= high
    label_right = max(float(x) for x in re.findall(r'<text class="lbl" x="([\d.]+)"', heat))
    assert label_right <= low  # criterion labels end before the first column


def test_rules_that_fired_most_shows_the_red_flags_first() -> None:
    positives = [rule(f"SELL-GOOD-{i:02}", "seller", 10) for i in range(12)]
    reports = [report_with(positives, n) for n in range(5)]
    reports.append(report_with([*positives, rule("RX-NO-PRESCRIPTION", "prescription", -40, Severity.critical)], 9,
                               Verdict.rogue, 2))
    html = render_audit_html(RUN, reports)
    chart = html.split('aria-labelledby="tr-t"', 1)[1].split("</svg>", 1)[0]
    shown = re.findall(r"<title>([A-Z0-9-]+):", chart)
    assert shown[0] == "RX-NO-PRESCRIPTION"  # fired on 1 site of 6, yet first
    assert len(shown) == 10 and sum(1 for r in shown if r.startswith("SELL-")) == 9


def test_red_flags_first_and_the_same_criteria_order_in_text_html_and_csv() -> None:
    findings = [rule("SELL-OFFER", "seller", 20), rule("LIC-REGISTER", "licensing", 15),
                rule("COM-CRYPTO", "commerce", -30, Severity.high), rule("COM-NICE", "commerce", 5),
                rule("RX-ASKS", "prescription", 10)]
    report = report_with(findings)
    text = render_text(report)
    text_order = [line.split()[0] for line in text.splitlines() if re.match(r"^[a-z]+ +[?✓✗⚑]", line)]
    assert text_order == ["commerce", "licensing", "prescription", "seller"]  # the red flag first, seller last
    html = render_site_html(report)
    html_order = re.findall(r'<section class="criterion" id="crit-([a-z]+)"', html)
    assert html_order == text_order
    # Within a criterion, what counts against the site comes first, in both.
    assert text.index("[COM-CRYPTO]") < text.index("[COM-NICE]")
    assert html.index("COM-CRYPTO") < html.index("COM-NICE")
    top = list(render_csv([report]))[1]
    assert top.index("COM-CRYPTO") < top.index("SELL-OFFER")


def test_an_audit_lists_criteria_in_the_order_of_the_text_report() -> None:
    html = render_audit_html(RUN, [report_with([rule("SELL-OFFER", "seller", 20)])])
    heads = re.findall(r'<th scope="col" data-key="c\d+">([^<]+)</th>', html)
    assert heads[-1] == "Seller" and heads[0] == "Licensing"  # "sells medicines" last, as in text

