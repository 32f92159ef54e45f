"""Hostile sites, end to end through `check_site` and the CLI: right error, bounded time and
memory, and the rest of the site still analysed."""

from __future__ import annotations

import json
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from pathlib import Path

import pytest

from hostile.hostile_check import SITE_TIMEOUT, check, codes, options
from hostile.hostile_server import HostileServer
from pharmcheck.check import CheckContext, check_site
from pharmcheck.cli import main
from pharmcheck.fetch import ArchiveIndex, Deadline, HostLimiter, LiveTransport
from pharmcheck.models import ExitCode, Verdict
from pharmcheck.ruleset import RuleSet

# Seconds allowed past a deadline: thread wake-ups on a busy 2-core CI box (1.5 s was once
# exceeded under full-suite load). Still below the 5 s per-read timeout of the drip tests, so a
# deadline that only held at the read timeout fails them.
SLACK = 2.5


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    err = StringIO()
    code = main(args, stderr=err)
    return code, capsys.readouterr().out, err.getvalue()


@pytest.mark.parametrize("path", ["/drip-headers", "/drip-body"])
def test_drip_fed_start_page_is_cut_at_the_site_deadline(server: HostileServer, ruleset: RuleSet, path: str) -> None:
    started = time.monotonic()
    report = check(server.base + path, ruleset, timeout=5.0, site_timeout=2.0)  # no recv waits 5 s on a drip
    took = time.monotonic() - started
    assert took < 2.0 + SLACK
    assert [e.code.value for e in report.errors].count("deadline") == 1  # said once, not per layer
    (page,) = report.pages
    if path == "/drip-headers":
        assert report.verdict == Verdict.unreachable  # not even a status line arrived
    else:
        assert page.truncated and page.bytes > 0  # what dripped in is kept, marked truncated


@pytest.mark.parametrize("path", ["/drip-headers", "/drip-body"])
def test_one_request_cannot_eat_the_whole_site_deadline(server: HostileServer, ruleset: RuleSet, path: str) -> None:
    # --timeout 0.5: a request may take 3 x 0.5 s in total, then it is a `timeout`, not retried.
    started = time.monotonic()
    report = check(server.base + path, ruleset, timeout=0.5, site_timeout=10.0, retries=2)
    assert time.monotonic() - started < 1.5 + SLACK
    assert "timeout" in codes(report)
    assert server.hits[path] == 1


def test_hostile_pages_do_not_stop_the_good_ones(server: HostileServer, ruleset: RuleSet) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        report = check(server.base + "/mixed/", ruleset, site_timeout=4.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    took = time.monotonic() - started
    pages = {p.url.removeprefix(server.base): p for p in report.pages}
    assert report.verdict != Verdict.unreachable
    assert pages["/mixed/"].title == "Mixed site"
    assert pages["/mixed/about-us"].title and pages["/mixed/contact"].title
    # the 1 GiB gzip bomb: cut at 3 MB, said so
    assert pages["/bomb"].truncated and pages["/bomb"].bytes == 3_000_000
    assert pages["/bomb"].error is not None and pages["/bomb"].error.value == "too_large"
    # a PNG served as text/html: recorded, not parsed
    assert pages["/binary-html"].error is not None and pages["/binary-html"].error.value == "not_html"
    assert pages["/binary-html"].title is None
    # 100,000 nested divs: parsed
    assert pages["/nested"].title == "Deep"
    assert {"too_large", "not_html"} <= codes(report)
    assert took < 4.0 + SLACK
    assert peak < 120_000_000, f"peak {peak / 1e6:.0f} MB"


def test_a_truncated_page_is_analysed(server: HostileServer, ruleset: RuleSet) -> None:
    report = check(server.base + "/endless", ruleset)
    (page,) = report.pages
    assert page.truncated and page.error is not None and page.error.value == "too_large"
    assert page.title == "Endless"
    assert report.verdict != Verdict.unreachable


def test_gzip_bomb_costs_what_the_cap_allows(server: HostileServer, ruleset: RuleSet) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        report = check(server.base + "/bomb", ruleset, max_bytes=1_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < SITE_TIMEOUT  # cut by the byte cap, not by the clock
    (page,) = report.pages
    assert page.truncated and page.bytes == 1_000_000
    assert "too_large" in codes(report)
    assert peak < 40_000_000, f"peak {peak / 1e6:.0f} MB for a 1 GiB bomb"


def test_endless_body_is_cut_at_max_bytes(server: HostileServer, ruleset: RuleSet) -> None:
    started = time.monotonic()
    report = check(server.base + "/endless", ruleset, max_bytes=500_000)
    assert time.monotonic() - started < SITE_TIMEOUT  # cut by the byte cap, not by the clock
    (page,) = report.pages
    assert page.truncated and page.bytes == 500_000
    assert "too_large" in codes(report)


def test_redirect_loop_is_reported_and_exits_3(server: HostileServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        ["check", server.base + "/loop/a", "--allow-private", "--format", "json", "--site-timeout", "3"], capsys
    )
    data = json.loads(out)
    assert code == ExitCode.UNREACHABLE
    assert data["verdict"] == "unreachable"
    assert [e["code"] for e in data["errors"]] == ["redirect_loop"]
    assert server.hits["/loop/a"] == 1 and server.hits["/loop/b"] == 1


def test_redirect_chain_is_capped(server: HostileServer, ruleset: RuleSet) -> None:
    report = check(server.base + "/chain", ruleset, max_redirects=3)
    assert codes(report) == {"too_many_redirects"}
    assert server.hits["/chain"] == 4


def test_redirect_to_another_scheme_is_refused(server: HostileServer, ruleset: RuleSet) -> None:
    report = check(server.base + "/redirect?to=file:///etc/passwd", ruleset)
    assert codes(report) == {"unsupported_scheme"}
    assert "only http and https" in report.errors[0].message


def test_robots_disallow_all_is_reported_not_skipped(
    server: HostileServer, ruleset: RuleSet, capsys: pytest.CaptureFixture[str]
) -> None:
    server.robots = "disallow"
    code, out, _ = run_cli(["check", server.base + "/ok/", "--allow-private", "--format", "json"], capsys)
    data = json.loads(out)
    assert code == ExitCode.UNREACHABLE
    assert data["errors"][0]["code"] == "robots" and "whole site" in data["errors"][0]["message"]
    assert server.hits["/ok/"] == 0 and server.hits["/robots.txt"] == 1
    report = check(server.base + "/ok/", ruleset, ignore_robots=True)
    assert report.verdict != Verdict.unreachable and report.pages[0].title


def test_robots_txt_is_fetched_once_per_site(server: HostileServer, ruleset: RuleSet) -> None:
    report = check(server.base + "/ok/", ruleset)
    assert len(report.pages) >= 3
    assert server.hits["/robots.txt"] == 1


def test_robots_server_error_means_disallow_all(server: HostileServer, ruleset: RuleSet) -> None:
    server.robots = "503"  # RFC 9309 2.3.1.4
    report = check(server.base + "/ok/", ruleset, retries=0)
    assert report.verdict == Verdict.unreachable and codes(report) == {"robots"}
    server.robots = "404"  # 2.3.1.3: no robots.txt, no rules
    report = check(server.base + "/ok/", ruleset, retries=0)
    assert report.verdict != Verdict.unreachable


def test_429_with_retry_after_is_retried_after_the_wait(server: HostileServer, ruleset: RuleSet) -> None:
    started = time.monotonic()
    report = check(server.base + "/retry-429", ruleset, retries=2)
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 honoured
    assert report.pages[0].status == 200 and report.pages[0].title == "After 429"
    assert server.hits["/retry-429"] == 2


def test_retry_after_beyond_the_deadline_is_not_waited_for(server: HostileServer, ruleset: RuleSet) -> None:
    started = time.monotonic()
    report = check(server.base + "/retry-after-long", ruleset, retries=3)
    assert time.monotonic() - started < SITE_TIMEOUT - 1  # the long Retry-After was not waited for
    assert report.pages[0].status == 429 and codes(report) == {"http_status"}
    assert server.hits["/retry-after-long"] == 1


def test_503_then_200_is_retried(server: HostileServer, ruleset: RuleSet) -> None:
    report = check(server.base + "/retry-503", ruleset)
    assert report.pages[0].status == 200 and report.pages[0].title == "After 503"
    assert server.hits["/retry-503"] == 2


def test_no_retries_when_told_so_and_none_on_404(server: HostileServer, ruleset: RuleSet) -> None:
    report = check(server.base + "/retry-503", ruleset, retries=0)
    assert report.pages[0].status == 503 and report.verdict == Verdict.unreachable
    check(server.base + "/not-found", ruleset, retries=3)
    assert server.hits["/not-found"] == 1


def test_one_page_spelled_many_ways_is_fetched_once(server: HostileServer, ruleset: RuleSet) -> None:
    check(server.base + "/dupes/", ruleset)
    assert server.hits["/ok/about-us"] == 1
    assert server.hits["/OK/../ok/about-us"] == 0


def test_per_host_limit_holds_across_threads(server: HostileServer) -> None:
    # A generous read timeout and no retries: under load a 1 s timeout could expire while the
    # server still slept on the first attempt, and its retry made a third request in flight
    # (seen once in a full run: 3 == 2), which is the test's clock, not the limiter.
    opts = options(per_host=2, timeout=10.0, retries=0)
    limiter = HostLimiter(opts.per_host)
    server.max_in_flight = 0

    def fetch_slow(_: int) -> int:
        transport = LiveTransport(opts, limiter)
        try:
            return transport.exchange(server.base + "/slow", Deadline(10)).status
        finally:
            transport.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(fetch_slow, range(6)))
    assert statuses == [200] * 6
    assert server.max_in_flight == 2


def test_a_replay_reports_what_the_live_check_did(server: HostileServer, ruleset: RuleSet, tmp_path: Path) -> None:
    warc = tmp_path / "bomb.warc.gz"
    live = check_site(server.base + "/bomb", CheckContext(ruleset=ruleset, options=options()), save_warc=str(warc))
    replayed = check_site(
        server.base + "/bomb", CheckContext(ruleset=ruleset, options=options(), archive=ArchiveIndex(str(warc)))
    )
    assert codes(live) == codes(replayed) == {"too_large"}
    assert [p.model_dump() for p in replayed.pages] == [p.model_dump() for p in live.pages]
