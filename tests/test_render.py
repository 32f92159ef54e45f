"""--render and --screenshots against local sites whose content only exists after JavaScript
runs: the verdict sees the injected evidence only with the browser, the browser obeys the
fetcher's guard (every forbidden request refused and reported), deadlines hold, and a
rendered capture replays offline without any browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from pharmcheck.check import CheckContext, check_site
from pharmcheck.cli import main
from pharmcheck.fetch import guard
from pharmcheck.fetch.render import CHROMIUM_ENV, chromium_path
from pharmcheck.models import ExitCode, FetchOptions, Report, Verdict
from pharmcheck.ruleset import RuleSet
from render_sites import CountingServer, RenderSiteServer
from sitekit import NORTHBRIDGE, REPO, SiteServer

needs_chromium = pytest.mark.skipif(chromium_path() is None, reason="no Chromium (Debian: apt-get install chromium)")
PUBLIC = "93.184.216.34"
SLACK = 3.0  # seconds past a deadline: a browser on a busy 2-core box wakes up late


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return RuleSet.load()


@pytest.fixture(scope="module")
def other() -> Iterator[CountingServer]:
    with CountingServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def shop(other: CountingServer) -> Iterator[RenderSiteServer]:
    with RenderSiteServer(other.port) as srv:
        yield srv


def check(url: str, ruleset: RuleSet, **options: object) -> Report:
    opts = FetchOptions(**{"allow_private": True, "max_pages": 3, "timeout": 3.0, "site_timeout": 30.0, **options})
    return check_site(url, CheckContext(ruleset=ruleset, options=opts))


def rules_fired(report: Report) -> set[str]:
    return {f.rule_id for f in report.findings}


def evidence_of(report: Report, rule_id: str) -> list[str]:
    return [e.text for f in report.findings if f.rule_id == rule_id for e in f.evidence]


@needs_chromium
def test_the_verdict_sees_script_built_evidence_only_with_render(shop: RenderSiteServer, ruleset: RuleSet) -> None:
    plain = check(shop.url, ruleset)
    assert "RX-NO-PRESCRIPTION" not in rules_fired(plain)
    assert plain.verdict == Verdict.not_pharmacy  # an empty shell sells nothing
    assert not any(p.rendered for p in plain.pages)

    rendered = check(shop.url, ruleset, render="on")
    assert rendered.verdict == Verdict.rogue
    assert any("No prescription needed" in text for text in evidence_of(rendered, "RX-NO-PRESCRIPTION"))
    assert "RX-CONTROLLED-FOR-SALE" in rules_fired(rendered)  # the injected catalogue
    assert all(p.rendered for p in rendered.pages)
    assert {p.url for p in rendered.pages} >= {shop.url, shop.url + "about"}  # links built by script are crawled
    assert rendered.errors == []


@needs_chromium
def test_render_auto_renders_only_pages_that_need_it(shop: RenderSiteServer, ruleset: RuleSet) -> None:
    auto = check(shop.url, ruleset, render="auto")
    assert auto.verdict == Verdict.rogue and all(p.rendered for p in auto.pages)
    with SiteServer(NORTHBRIDGE) as static:  # a plain HTML site: no page pays for the browser
        report = check(static.url, ruleset, render="auto")
    assert report.pages and not any(p.rendered for p in report.pages)
    assert report.verdict == Verdict.legitimate


@pytest.fixture
def public_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    """`localhost` passes the guard as a public host whose real address is 127.0.0.1, so only
    the guard's checks of the browser's own requests stand between the page and 127.0.0.1."""
    real_resolve, real_peer = guard.resolve, guard.check_peer
    monkeypatch.setattr(guard, "resolve", lambda host, port: [PUBLIC] if host == "localhost" else real_resolve(host, port))
    monkeypatch.setattr(guard, "check_peer", lambda address: None if address in ("127.0.0.1", "::1") else real_peer(address))


@needs_chromium
@pytest.mark.usefixtures("public_localhost")
def test_the_browser_obeys_the_guard_and_reports_every_refusal(shop: RenderSiteServer, other: CountingServer,
                                                               ruleset: RuleSet) -> None:
    shop.hits.clear()
    report = check(f"http://localhost:{shop.port}/hostile", ruleset, render="on", allow_private=False, max_pages=1)
    refused = {(e.code.value, e.url) for e in report.errors}
    assert ("blocked_private", f"http://127.0.0.1:{other.port}/secret") in refused  # fetch() to another port
    assert ("unsupported_scheme", "file:///etc/passwd") in refused
    assert ("unsupported_scheme", f"ws://127.0.0.1:{other.port}/ws") in refused
    assert ("download_refused", f"http://localhost:{shop.port}/files/price-list.exe") in refused
    assert other.hits == []  # nothing reached the private service
    assert shop.hits["/files/price-list.exe"] == 0  # the download was never fetched
    assert shop.hits["/static/hostile.js"] == 1  # the page's own script went through the guard, and ran:
    assert "RX-NO-PRESCRIPTION" in rules_fired(report)
    assert all("SSRF guard" in e.message for e in report.errors if e.code.value == "blocked_private")


@needs_chromium
def test_a_page_that_never_stops_loading_is_read_within_its_deadline(shop: RenderSiteServer, ruleset: RuleSet) -> None:
    started = time.monotonic()
    report = check(shop.url + "forever", ruleset, render="on", timeout=1.0, site_timeout=20.0, max_pages=1)
    took = time.monotonic() - started
    assert took < 3 * 1.0 + SLACK  # one page may take 3 x --timeout, however it behaves
    assert "RX-NO-PRESCRIPTION" in rules_fired(report)  # read as it stood when its time was up
    assert report.pages[0].rendered


@needs_chromium
def test_the_site_deadline_holds_with_render(shop: RenderSiteServer, ruleset: RuleSet) -> None:
    started = time.monotonic()
    report = check(shop.url + "forever", ruleset, render="on", timeout=10.0, site_timeout=2.0, max_pages=1)
    assert time.monotonic() - started < 2.0 + SLACK
    assert report.pages  # what the site managed in its time is still judged


def _cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pharmcheck", *args], capture_output=True, text=True,
                          env=full_env, timeout=120)


@needs_chromium
def test_screenshots_are_kept_in_the_warc_and_replayed_without_a_browser(shop: RenderSiteServer, tmp_path: Path) -> None:
    warc = tmp_path / "shop.warc.gz"
    live = _cli(["check", shop.url, "--render", "--screenshots", "--allow-private", "--max-pages", "2",
                 "--save-warc", str(warc), "--format", "json"])
    assert live.returncode == ExitCode.FAIL_ON, live.stderr  # rogue
    live_report = json.loads(live.stdout)
    shots = {p["url"]: p["screenshot"] for p in live_report["pages"]}
    assert all(s and s["width"] == 1280 and s["height"] > 0 for s in shots.values())
    assert "png" not in json.dumps(live_report["pages"][0]["screenshot"])  # the image is not in the JSON

    with open(warc, "rb") as fh:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"),
                    r.rec_headers.get_header("WARC-Refers-To-Target-URI"), r.rec_headers.get_header("Content-Type"),
                    r.content_stream().read()) for r in ArchiveIterator(fh)]
    pngs = [r for r in records if r[0] == "resource"]
    assert {r[2] for r in pngs} == set(shots)  # one per page, linked to it
    assert all(r[3] == "image/png" and r[4].startswith(b"\x89PNG") for r in pngs)
    assert any(r[0] == "conversion" and b"No prescription needed" in r[4] for r in records)  # the rendered DOM

    # Offline, and with no Chromium at all: the same verdict from the rendered DOM, the same screenshots.
    # (the same --max-pages as the capture: more would look for pages the capture never took)
    replay = _cli(["check", shop.url, "--replay", str(warc), "--max-pages", "2", "--format", "json"],
                  env={CHROMIUM_ENV: "/nonexistent"})
    replayed = json.loads(replay.stdout)
    assert replayed["verdict"] == live_report["verdict"] == "rogue"
    assert {f["rule_id"] for f in replayed["findings"]} == {f["rule_id"] for f in live_report["findings"]}
    assert {p["url"]: p["screenshot"] for p in replayed["pages"]} == shots
    assert all(p["rendered"] for p in replayed["pages"])


@needs_chromium
def test_screenshots_without_render_show_the_page_as_fetched(shop: RenderSiteServer, ruleset: RuleSet) -> None:
    report = check(shop.url, ruleset, screenshots=True, max_pages=1)
    (page,) = report.pages
    assert page.screenshot is not None and page.screenshot.png.startswith(b"\x89PNG")
    assert not page.rendered
    assert report.verdict == Verdict.not_pharmacy  # scripts did not run: judged on what was fetched


def test_render_without_chromium_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHROMIUM_ENV, "/nonexistent/chromium")
    for option in (["--render"], ["--render", "auto"], ["--screenshots"]):
        err = StringIO()
        code = main(["check", "https://pharmacy.example/", *option], stderr=err)
        assert code == ExitCode.USAGE
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and "needs Chromium" in lines[0] and "/nonexistent/chromium" in lines[0]
    err = StringIO()
    assert main(["audit", "-", "--render", "--db", os.devnull], stderr=err) == ExitCode.USAGE
    assert "needs Chromium" in err.getvalue()


def test_replay_needs_no_chromium_even_with_render(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(CHROMIUM_ENV, "/nonexistent/chromium")
    capture = REPO / "examples" / "cheap-meds-24.warc.gz"
    code = main(["check", "https://cheap-meds-24.example/", "--replay", str(capture), "--render", "--format", "json"],
                stderr=StringIO())
    assert code == ExitCode.FAIL_ON
    assert json.loads(capsys.readouterr().out)["verdict"] == "rogue"


@needs_chromium
def test_audit_with_render_auto_one_browser_per_worker_process(shop: RenderSiteServer, tmp_path: Path) -> None:
    with SiteServer(NORTHBRIDGE) as static:
        sites = tmp_path / "sites.txt"
        sites.write_text(f"{shop.url}\n{static.url}\n")
        # The URL right after a bare --render is not taken for its mode.
        done = _cli(["audit", "--render", str(sites), "--render", "auto", "--allow-private", "--db", str(tmp_path / "a.db"),
                     "--workers", "2", "--processes", "2", "--max-pages", "3", "--no-progress"])
    assert done.returncode == ExitCode.OK, done.stderr
    reports = {r["url"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert reports[shop.url]["verdict"] == "rogue"
    assert all(p["rendered"] for p in reports[shop.url]["pages"])
    assert reports[static.url]["verdict"] == "legitimate"
    assert not any(p["rendered"] for p in reports[static.url]["pages"])


@needs_chromium
def test_bare_render_flag_before_the_url(shop: RenderSiteServer) -> None:
    done = _cli(["check", "--render", shop.url, "--allow-private", "--max-pages", "1"])
    assert done.returncode == ExitCode.FAIL_ON, done.stderr
    assert "verdict: ROGUE" in done.stdout and "(1 rendered by the browser)" in done.stdout


@pytest.mark.parametrize(("html", "why"), [
    ('<html><body><div id="root"></div><script src="/app.js"></script></body></html>', "an app root with little text"),
    ("<html><body><noscript>You need to enable JavaScript to run this app.</noscript>" + "<p>Shop</p>" * 80
     + "</body></html>", "asks for JavaScript"),
    ("<html><body><p>Loading…</p></body></html>", "little visible text"),
    ("<html><body>" + "<p>We are a registered pharmacy; prescriptions are checked by our pharmacists.</p>" * 20
     + "<noscript><img src='/pixel.gif'></noscript></body></html>", None),
])
def test_render_auto_picks_pages_that_look_empty_or_script_built(html: str, why: str | None, ruleset: RuleSet) -> None:
    from pharmcheck.extract import extract_page
    from pharmcheck.fetch.render import needs_browser
    from pharmcheck.models import Response

    resp = Response(url="https://shop.example/", final_url="https://shop.example/", status=200,
                    content_type="text/html", body=html.encode())
    assert needs_browser(resp, extract_page(resp, ruleset.drug_index)) == why
