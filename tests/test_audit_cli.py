"""`pharmcheck audit` / `export` end to end, against real local servers (each made-up site
on its own loopback address) and WARC captures. Nothing here touches the network."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pharmcheck.cli import main
from pharmcheck.fetch.pagedir import write_warc

ROGUE = {
    "/": "<html><head><title>Cheap Meds Express</title></head><body><h1>Cheap meds, fast</h1>"
         "<a href='/about'>About us</a> <a href='/faq'>FAQ</a> <a href='/contact'>Contact</a>"
         "<p>Buy Xanax and Oxycodone online without prescription. No prescription needed!</p>"
         "<p>Pay with Bitcoin and get 20% off every order.</p></body></html>",
    "/about": "<html><body><h1>About us</h1><p>Discreet worldwide shipping since 2019.</p></body></html>",
    "/faq": "<html><body><h1>FAQ</h1><p>Do I need a prescription? No, our doctors approve every order.</p>"
            "</body></html>",
    "/contact": "<html><body><h1>Contact</h1><p>Write to support@cheap-meds.example</p></body></html>",
}
GARDEN = {
    "/": "<html><head><title>Hill Street Garden Club</title></head><body><h1>Garden club</h1>"
         "<a href='/about'>About</a><p>Monthly meetings about roses, compost and seed swaps.</p></body></html>",
    "/about": "<html><body><p>Volunteers since 1987. Contact the secretary at the village hall.</p></body></html>",
}


class Sites:
    """`count` made-up sites, each on its own loopback address (127.0.3.N, random port),
    answering after `delay` seconds; every other site is a rogue pharmacy."""

    def __init__(self, count: int, delay: float = 0.0) -> None:
        self.delay = delay
        self.hits: Counter[str] = Counter()
        self.servers: list[ThreadingHTTPServer] = []
        self.urls: list[str] = []
        sites = self
        for i in range(count):
            pages = ROGUE if i % 2 == 0 else GARDEN

            class Handler(BaseHTTPRequestHandler):
                routes = pages

                def do_GET(self) -> None:
                    time.sleep(sites.delay)
                    sites.hits[f"{self.server.server_address[0]}{self.path}"] += 1
                    body = self.routes.get(self.path)
                    data = (body or "<h1>Not found</h1>").encode()
                    self.send_response(200 if body else 404)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

                def log_message(self, format: str, *args: object) -> None:
                    pass

            httpd = ThreadingHTTPServer((f"127.0.3.{i + 1}", 0), Handler)
            httpd.daemon_threads = True
            threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self.servers.append(httpd)
            self.urls.append(f"http://127.0.3.{i + 1}:{httpd.server_address[1]}/")

    def close(self) -> None:
        for httpd in self.servers:
            httpd.shutdown()
            httpd.server_close()


@pytest.fixture
def sites() -> Iterator[Sites]:
    s = Sites(6)
    yield s
    s.close()


def _audit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["audit", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _without_run_time(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("checked_at", "duration")}


def test_audit_streams_jsonl_stores_every_site_and_summarises(sites: Sites, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    listing = tmp_path / "sites.txt"
    closed = "http://127.0.3.250:9/"  # nothing listens there
    listing.write_text("# test list\n" + "\n".join(sites.urls) + "\nnot a url\n" + sites.urls[0].upper() + "\n"
                       + closed + "\n")
    db = tmp_path / "audit.db"
    code, out, err = _audit([str(listing), "--db", str(db), "--allow-private", "--workers", "3"], capsys)
    assert code == 0, err
    reports = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["url"] for r in reports) == sorted([*sites.urls, closed])  # the duplicate audited once
    verdicts = Counter(r["verdict"] for r in reports)
    assert verdicts == {"rogue": 3, "not_pharmacy": 3, "unreachable": 1}
    assert "line 8: contains spaces: 'not a url' (skipped)" in err
    assert "verdicts: rogue 3 · not_pharmacy 3 · unreachable 1" in err and "sites/s" in err
    assert "unreachable by error: connection_refused 1" in err
    assert _rows(db, "SELECT count(*), count(DISTINCT url), min(finished_at IS NOT NULL) FROM sites JOIN runs "
                     "ON runs.id = run_id") == [(7, 7, 1)]
    assert _rows(db, f"SELECT error_kind FROM sites WHERE url = '{closed}'") == [("connection_refused",)]
    fired = _rows(db, "SELECT count(DISTINCT url) FROM findings WHERE rule_id = 'RX-NO-PRESCRIPTION'")
    assert fired == [(3,)]


def test_fail_on_and_csv_output_file(sites: Sites, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listing = tmp_path / "sites.csv"
    listing.write_text("name,url\n" + "".join(f"s{i},{u}\n" for i, u in enumerate(sites.urls)))
    out_csv = tmp_path / "out.csv"
    code, out, err = _audit([str(listing), "--db", str(tmp_path / "a.db"), "--allow-private", "--format", "csv",
                             "-o", str(out_csv), "--fail-on", "rogue"], capsys)
    assert code == 1, err
    assert out == ""
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(rows) == 6 and {r["verdict"] for r in rows} == {"rogue", "not_pharmacy"}
    assert all(r["prescription_status"] == "red_flag" for r in rows if r["verdict"] == "rogue")


def test_stdin_input(sites: Sites, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(sites.urls[1] + "\n\n:::bad\n" + sites.urls[2] + "\n"))
    code, out, err = _audit(["-", "--db", str(tmp_path / "a.db"), "--allow-private"], capsys)
    assert code == 0, err
    assert sorted(json.loads(line)["url"] for line in out.splitlines()) == sorted([sites.urls[1], sites.urls[2]])
    assert "-: line 3:" in err
    assert _rows(tmp_path / "a.db", "SELECT total FROM runs") == [(2,)]  # known once stdin has been read


def test_bad_arguments_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _audit([str(tmp_path / "missing.txt"), "--db", str(tmp_path / "a.db")], capsys)
    assert code == 2 and err.count("\n") == 1 and "input file not found" in err
    (tmp_path / "l.txt").write_text("a.example\n")
    code, _, err = _audit([str(tmp_path / "l.txt"), "--db", str(tmp_path / "a.db"), "--resume"], capsys)
    assert code == 2 and "no unfinished run" in err
    assert main(["export", "--db", str(tmp_path / "nope.db")]) == 2


def _write_capture(path: Path, base: str, pages: dict[str, str]) -> None:
    write_warc(path, [(base + route, html.encode(), "text/html; charset=utf-8") for route, html in pages.items()])


def test_jsonl_equals_check_json_for_the_same_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    captures = tmp_path / "captures"
    captures.mkdir()
    _write_capture(captures / "rogue.warc.gz", "https://cheap-meds.example", ROGUE)
    _write_capture(captures / "garden.warc.gz", "https://garden-club.example", GARDEN)
    listing = tmp_path / "l.txt"
    listing.write_text("cheap-meds.example\ngarden-club.example\n")
    code, out, err = _audit([str(listing), "--db", str(tmp_path / "a.db"), "--replay", str(captures)], capsys)
    assert code == 0, err
    audited = {r["url"]: _without_run_time(r) for r in map(json.loads, out.splitlines())}
    for url in ("https://cheap-meds.example/", "https://garden-club.example/"):
        assert main(["check", url, "--replay", str(captures), "--format", "json"]) in (0, 1)
        checked = json.loads(capsys.readouterr().out)
        assert audited[url] == _without_run_time(checked)
    assert audited["https://cheap-meds.example/"]["verdict"] == "rogue"


def test_export_rewrites_a_stored_run_in_every_format(sites: Sites, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    listing = tmp_path / "l.txt"
    listing.write_text("\n".join(sites.urls[:3]) + "\n")
    db = tmp_path / "a.db"
    _, streamed, _ = _audit([str(listing), "--db", str(db), "--allow-private"], capsys)
    sites.close()  # export reads the database only

    assert main(["export", "--db", str(db), "--run", "1", "--format", "jsonl"]) == 0
    exported = capsys.readouterr().out
    # The same reports as streamed during the run, plus what the run's networks add: each
    # member's `network` block (and, where a rogue network was weighed in, its verdict).
    network_added = {"network", "verdict", "score", "summary", "findings", "criteria"}

    def own(report: dict) -> dict:
        block = report.pop("network", None)
        if block and block["rescored"]:
            report = {k: v for k, v in report.items() if k not in network_added}
        return report

    streamed_by_url = {r["url"]: r for r in map(json.loads, streamed.splitlines())}
    for report in map(json.loads, exported.splitlines()):
        mine = own(report)
        assert mine == {k: v for k, v in streamed_by_url[report["url"]].items() if k in mine}
    assert len(exported.splitlines()) == len(streamed_by_url)
    assert [json.loads(line)["url"] for line in exported.splitlines()] == sites.urls[:3]  # input order

    assert main(["export", "--db", str(db), "--format", "json", "-o", str(tmp_path / "r.json")]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["run"]["id"] == 1 and doc["run"]["total"] == 3 and len(doc["reports"]) == 3

    assert main(["export", "--db", str(db), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["url"] for r in rows] == sites.urls[:3]
    assert main(["export", "--db", str(db), "--run", "7"]) == 2

    assert main(["report", "--db", str(db), "-o", str(tmp_path / "run.html")]) == 0
    assert (tmp_path / "run.html").read_text().lstrip().lower().startswith("<!doctype html>")


def test_save_warc_per_site_then_replay_gives_the_same_verdicts(sites: Sites, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    listing = tmp_path / "l.txt"
    listing.write_text("\n".join(sites.urls[:2]) + "\n")
    warcs = tmp_path / "warcs"
    _, live, _ = _audit([str(listing), "--db", str(tmp_path / "a.db"), "--allow-private", "--save-warc",
                         str(warcs)], capsys)
    assert sorted(p.name for p in warcs.iterdir()) == sorted(
        u.split("//")[1].rstrip("/").replace(":", "_") + ".warc.gz" for u in sites.urls[:2])
    sites.close()
    _, replayed, err = _audit([str(listing), "--db", str(tmp_path / "b.db"), "--replay", str(warcs)], capsys)
    assert {json.loads(x)["url"]: json.loads(x)["verdict"] for x in replayed.splitlines()} == \
        {json.loads(x)["url"]: json.loads(x)["verdict"] for x in live.splitlines()}, err


# --- crash, Ctrl-C, resume (a real `pharmcheck audit` process) -------------------------


def _start_audit(listing: Path, db: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "pharmcheck", "audit", str(listing), "--db", str(db), "--allow-private",
           "--workers", "2", "-o", str(out), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for_stored(db: Path, at_least: int, proc: subprocess.Popen[str], timeout: float = 30) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        if db.exists():
            try:
                n = _rows(db, "SELECT count(*) FROM sites")[0][0]
            except sqlite3.OperationalError:  # tables not created yet
                n = 0
            if n >= at_least:
                return int(n)
        time.sleep(0.05)
    raise AssertionError("the audit stored too few sites in time")


@pytest.fixture
def slow_sites() -> Iterator[Sites]:
    s = Sites(8, delay=0.15)
    yield s
    s.close()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _audit_until_two_stored(slow_sites: Sites, tmp_path: Path, processes: str
                            ) -> tuple[Path, Path, Path, subprocess.Popen[str]]:
    """An audit of the slow sites running in a subprocess, once two sites are committed."""
    listing = tmp_path / "sites.txt"
    listing.write_text("\n".join(slow_sites.urls) + "\n")
    db, out = tmp_path / "audit.db", tmp_path / "out.jsonl"
    proc = _start_audit(listing, db, out, "--processes", processes)
    _wait_for_stored(db, 2, proc)
    return listing, db, out, proc


# Run as the program (python -m pharmcheck ...) beside daemon threads that are inside native
# code whenever the program ends, as an interrupted audit's sites in flight may be: these
# stand-ins loop over RE2 searches, which let go of the GIL.
BUSY_IN_NATIVE_CODE = """
import re2, runpy, sys, threading
text = ("abc " * 100_000).encode()
pattern = re2.compile(rb"(?:x|y)z+q")
def search_for_ever():
    while True:
        pattern.search(text)
for _ in range(4):
    threading.Thread(target=search_for_ever, daemon=True).start()
sys.argv = ["pharmcheck", *sys.argv[1:]]
runpy.run_module("pharmcheck", run_name="__main__")
"""


def test_an_audit_ends_with_its_exit_code_and_its_files_while_threads_are_in_native_code(tmp_path: Path) -> None:
    # Python's teardown stopped such threads as they came back for the GIL, which pybind11 does
    # in a destructor that may not throw: the process aborted (SIGABRT) instead of exiting.
    examples = Path(__file__).resolve().parent.parent / "examples"
    listing = tmp_path / "sites.txt"
    listing.write_text("https://www.northbridge-pharmacy.example/\nhttps://cheap-meds-24.example/\n")
    for attempt in range(3):  # the abort came most times, not every time
        db, out = tmp_path / f"audit{attempt}.db", tmp_path / f"out{attempt}.jsonl"
        done = subprocess.run([sys.executable, "-c", BUSY_IN_NATIVE_CODE, "audit", str(listing), "--db", str(db),
                               "--replay", str(examples), "-o", str(out), "--no-progress"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "2 of 2 sites stored" in done.stderr
        assert sorted(json.loads(line)["verdict"] for line in out.read_text().splitlines()) == ["legitimate", "rogue"]
        assert _rows(db, "SELECT count(*) FROM sites") == [(2,)]


def test_an_audit_that_fails_ends_with_its_exit_code_while_threads_are_in_native_code(tmp_path: Path) -> None:
    # An error's way out ends the program as a finished audit's does, not through the teardown.
    missing = tmp_path / "no-such-list.txt"
    for attempt in range(3):
        done = subprocess.run([sys.executable, "-c", BUSY_IN_NATIVE_CODE, "audit", str(missing),
                               "--db", str(tmp_path / f"audit{attempt}.db"), "--no-progress"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [f"pharmcheck: error: input file not found: {missing}"]


@pytest.mark.parametrize("processes", ["1", "2"])
def test_kill_9_loses_only_sites_in_flight_and_resume_audits_each_site_once(
        slow_sites: Sites, tmp_path: Path, processes: str) -> None:
    listing, db, out, proc = _audit_until_two_stored(slow_sites, tmp_path, processes)
    workers = _children(proc.pid)
    assert len(workers) == (2 if processes == "2" else 0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    end = time.monotonic() + 5
    while any(_alive(w) for w in workers) and time.monotonic() < end:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers)  # orphaned worker processes stop by themselves
    before = {u for (u,) in _rows(db, "SELECT url FROM sites")}
    assert 2 <= len(before) < 8
    assert _rows(db, "SELECT finished_at FROM runs") == [(None,)]

    resumed = _start_audit(listing, db, out, "--resume", "--processes", processes)
    _, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert f"8 of 8 sites stored; {8 - len(before)} audited now" in err
    urls = [u for (u,) in _rows(db, "SELECT url FROM sites")]
    assert sorted(urls) == sorted(slow_sites.urls)  # every site, each exactly once
    assert _rows(db, "SELECT count(*), min(finished_at IS NOT NULL) FROM runs") == [(1, 1)]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["url"] for r in lines) == sorted(slow_sites.urls)  # the output file is whole, no duplicates
    # Sites finished before the crash were not fetched again.
    for url in before:
        host = url.split("//")[1].split(":")[0]
        assert slow_sites.hits[f"{host}/"] == 1


@pytest.mark.parametrize("processes", ["1", "2"])
def test_ctrl_c_keeps_finished_sites_prints_resume_command_and_exits_130(
        slow_sites: Sites, tmp_path: Path, processes: str) -> None:
    listing, db, out, proc = _audit_until_two_stored(slow_sites, tmp_path, processes)
    stopped_at = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.monotonic() - stopped_at < 5  # does not wait for the rest of the list
    stored = _rows(db, "SELECT count(*) FROM sites")[0][0]
    assert 2 <= stored < 8
    # The hint carries what the run needs: the sites are local (--allow-private), two at a time.
    hint = f"pharmcheck audit {listing} --db {db} -o {out} --allow-private --workers 2 --processes {processes} --resume 1"
    assert f"resume with: {hint}" in err
    assert len(out.read_text().splitlines()) == stored  # output holds what the database holds

    # The printed command itself resumes the run, as printed.
    resumed = subprocess.Popen([sys.executable, "-m", *shlex.split(hint)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    _, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert sorted(u for (u,) in _rows(db, "SELECT url FROM sites")) == sorted(slow_sites.urls)
