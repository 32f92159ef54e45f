"""`check` end to end: a real local HTTP server, WARC capture, and replay."""

from __future__ import annotations

import json
from pathlib import Path

from pharmcheck.check import CheckContext, check_site
from pharmcheck.fetch import ArchiveIndex
from pharmcheck.models import FetchOptions, Verdict
from pharmcheck.ruleset import RuleSet
from sitekit import EXAMPLES, SiteServer

LOCAL = FetchOptions(allow_private=True, site_timeout=20)


def _json_without_run_time(report_json: str) -> dict:
    data = json.loads(report_json)
    data.pop("checked_at")
    data.pop("duration")
    return data


def test_crawl_follows_promising_same_site_links(northbridge_server: SiteServer, ruleset: RuleSet) -> None:
    report = check_site(northbridge_server.url, CheckContext(ruleset=ruleset, options=LOCAL))
    fetched = {p.url.split(northbridge_server.url.rstrip("/"), 1)[1] for p in report.pages}
    # the pages that carry evidence are chosen: about, contact, ordering, FAQ, terms, a product page
    assert {"/", "/about-us", "/contact", "/how-to-order", "/faq", "/terms"} <= fetched
    assert any(path.startswith("/medicines/") for path in fetched)
    # robots.txt is read once, and no off-site link (GPhC register, Trustpilot) is followed
    assert northbridge_server.requests.count("/robots.txt") == 1
    assert all(p.url.startswith(northbridge_server.url) for p in report.pages)
    # an honest User-Agent names the tool
    assert all(ua.startswith("pharmcheck/") for ua in northbridge_server.user_agents)
    assert report.verdict in (Verdict.legitimate, Verdict.suspicious)
    assert report.criteria["licensing"].status.value == "met"


def test_max_pages_is_a_hard_cap(northbridge_server: SiteServer, ruleset: RuleSet) -> None:
    options = LOCAL.model_copy(update={"max_pages": 3})
    report = check_site(northbridge_server.url, CheckContext(ruleset=ruleset, options=options))
    assert len(report.pages) == 3
    assert len([p for p in northbridge_server.requests if p != "/robots.txt"]) == 3


def test_every_finding_carries_page_and_words(cheap_meds_server: SiteServer, ruleset: RuleSet) -> None:
    report = check_site(cheap_meds_server.url, CheckContext(ruleset=ruleset, options=LOCAL))
    assert report.verdict == Verdict.rogue
    assert report.findings
    for finding in report.findings:
        assert finding.evidence, finding.rule_id
        for ev in finding.evidence:
            assert ev.url.startswith(cheap_meds_server.url)
            assert 0 < len(ev.text) <= 202  # 200 characters of context, plus ellipses
    no_rx = next(f for f in report.findings if f.rule_id == "RX-NO-PRESCRIPTION")
    assert any("without prescription" in ev.text.lower() or "no prescription" in ev.text.lower() for ev in no_rx.evidence)


def test_save_warc_then_replay_gives_the_same_report(cheap_meds_server: SiteServer, ruleset: RuleSet, tmp_path: Path) -> None:
    warc = tmp_path / "capture.warc.gz"
    live = check_site(cheap_meds_server.url, CheckContext(ruleset=ruleset, options=LOCAL), save_warc=str(warc))
    served = len(cheap_meds_server.requests)
    replayed = check_site(cheap_meds_server.url, CheckContext(ruleset=ruleset, options=LOCAL, archive=ArchiveIndex(warc)))
    assert len(cheap_meds_server.requests) == served  # replay never touched the server
    assert _json_without_run_time(replayed.model_dump_json()) == _json_without_run_time(live.model_dump_json())


def test_replay_is_byte_for_byte_repeatable(ruleset: RuleSet) -> None:
    archive = ArchiveIndex(EXAMPLES / "cheap-meds-24.warc.gz")
    ctx = CheckContext(ruleset=ruleset, archive=archive)
    first = check_site("https://cheap-meds-24.example/", ctx)
    second = check_site("https://cheap-meds-24.example/", ctx)
    assert _json_without_run_time(first.model_dump_json()) == _json_without_run_time(second.model_dump_json())


def test_url_missing_from_archive_is_a_404_not_a_fetch(ruleset: RuleSet) -> None:
    ctx = CheckContext(ruleset=ruleset, archive=ArchiveIndex(EXAMPLES / "cheap-meds-24.warc.gz"))
    report = check_site("https://not-captured.example/", ctx)
    assert report.verdict == Verdict.unreachable
    assert report.pages[0].status == 404
    assert report.errors[0].code.value == "not_in_archive"


def test_unreachable_site_is_a_verdict_not_a_crash(ruleset: RuleSet) -> None:
    # a port nothing listens on
    report = check_site("http://127.0.0.1:9/", CheckContext(ruleset=ruleset, options=LOCAL.model_copy(update={"retries": 0})))
    assert report.verdict == Verdict.unreachable
    assert report.errors and report.errors[0].code.value in ("connection_refused", "connection")


def test_example_captures_give_the_documented_verdicts(ruleset: RuleSet) -> None:
    for name, url, verdict in [
        ("northbridge-pharmacy.warc.gz", "https://www.northbridge-pharmacy.example/", Verdict.legitimate),
        ("cheap-meds-24.warc.gz", "https://cheap-meds-24.example/", Verdict.rogue),
    ]:
        report = check_site(url, CheckContext(ruleset=ruleset, archive=ArchiveIndex(EXAMPLES / name)))
        assert report.verdict == verdict, (name, report.summary)
