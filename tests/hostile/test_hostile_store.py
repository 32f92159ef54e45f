"""Hostile conditions around the audit database: a full disk, garbled rows, read-only media,
two processes resuming one run. Each says what happened (exit 2, one line) and keeps what
was stored, instead of exiting 4 "internal error"."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from hostile.hostile_server import HostileServer
from pharmcheck.cli import main
from pharmcheck.models import ExitCode

FAST = ["--allow-private", "--workers", "1", "--processes", "1", "--no-progress", "--site-timeout", "3",
        "--timeout", "1", "--max-pages", "2"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    err = StringIO()
    code = main(argv, stderr=err)
    captured = capsys.readouterr()
    return code, captured.out, captured.err + err.getvalue()


def site_list(tmp_path: Path, server: HostileServer, count: int, path: str = "/ok/") -> tuple[Path, list[str]]:
    urls = [f"{server.base}{path}?site={i}" for i in range(count)]
    listing = tmp_path / "sites.txt"
    listing.write_text("\n".join(urls) + "\n", encoding="utf-8")
    return listing, urls


_connect = sqlite3.connect  # the real one, for the test's own reads


def stored_urls(db: Path) -> list[str]:
    with _connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT url FROM sites ORDER BY position")]


def test_disk_full_exits_2_with_the_resume_command_and_keeps_what_was_stored(
        server: HostileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    listing, urls = site_list(tmp_path, server, 8)
    db = tmp_path / "audit.db"
    real_connect = sqlite3.connect

    def small_disk(*args: Any, **kwargs: Any) -> Any:
        return FillsUp(real_connect(*args, **kwargs), after_sites=2)

    monkeypatch.setattr(sqlite3, "connect", small_disk)
    code, _, err = run(["audit", str(listing), "--db", str(db), *FAST], capsys)
    assert code == ExitCode.USAGE, err
    (line,) = [ln for ln in err.splitlines() if "error:" in ln]
    assert "disk full" in line and "resume with:" in line and "--resume 1" in line
    kept = stored_urls(db)
    assert 0 < len(kept) < len(urls)

    monkeypatch.setattr(sqlite3, "connect", real_connect)  # space freed
    code, out, err = run(["audit", str(listing), "--db", str(db), *FAST, "--resume", "1"], capsys)
    assert code == ExitCode.OK, err
    assert sorted(stored_urls(db)) == sorted(urls)
    assert sorted(json.loads(line)["url"] for line in out.splitlines()) == sorted(urls)


class FillsUp:
    """An SQLite connection whose disk is full once `after_sites` sites are committed: the
    database may not grow any more (PRAGMA max_page_count), as on a disk with no space left."""

    def __init__(self, conn: sqlite3.Connection, after_sites: int) -> None:
        self._conn = conn
        self._after = after_sites
        self._writing_site = False
        self._sites = 0

    def execute(self, sql: str, *params: Any) -> sqlite3.Cursor:
        self._writing_site = self._writing_site or "INTO sites" in sql
        cursor = self._conn.execute(sql, *params)
        if sql.strip().upper() == "COMMIT" and self._writing_site:
            self._writing_site = False
            self._sites += 1
            if self._sites == self._after:
                pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
                self._conn.execute(f"PRAGMA max_page_count = {pages}")
        return cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _garble(db: Path, url: str, replacement: bytes) -> None:
    """Overwrite bytes of one site's stored report in the file itself, as a failing disk
    would: the quote opening each `"url"` key of that report (and of any stale copy)."""
    data = bytearray(db.read_bytes())
    needle = b'{"url":"' + url.encode() + b'"'
    at = data.find(needle)
    assert at >= 0
    while at >= 0:
        data[at + 1:at + 1 + len(replacement)] = replacement
        at = data.find(needle, at + 1)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("replacement", [b"\xff\xfe", b"#!"], ids=["not-utf8", "not-json"])
def test_export_reports_a_corrupt_row_by_run_and_site_and_skips_it(
        server: HostileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], replacement: bytes) -> None:
    listing, urls = site_list(tmp_path, server, 3)
    db = tmp_path / "audit.db"
    code, _, err = run(["audit", str(listing), "--db", str(db), *FAST], capsys)
    assert code == ExitCode.OK, err
    _garble(db, urls[1], replacement)
    code, out, err = run(["export", "--db", str(db), "--format", "jsonl"], capsys)
    assert code == ExitCode.OK, err
    assert [json.loads(line)["url"] for line in out.splitlines()] == [urls[0], urls[2]]
    (warning,) = err.strip().splitlines()
    assert f"run 1, site {urls[1]}" in warning and "corrupt" in warning and "skipped" in warning


def _read_only_mount_works(directory: Path) -> bool:
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            f"mount --bind {directory} {directory} && mount -o remount,bind,ro {directory}"],
                           capture_output=True)
    return probe.returncode == 0


def test_export_and_report_read_a_store_on_read_only_media(
        server: HostileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    media = tmp_path / "media"
    media.mkdir()
    if not _read_only_mount_works(media):
        pytest.skip("needs unprivileged user+mount namespaces (unshare) to make read-only media")
    listing, urls = site_list(tmp_path, server, 2)
    db = media / "audit.db"
    code, _, err = run(["audit", str(listing), "--db", str(db), *FAST], capsys)
    assert code == ExitCode.OK, err
    assert not {"audit.db-wal", "audit.db-shm"} & {p.name for p in media.iterdir()}  # all in the file
    src = Path(__file__).resolve().parents[2] / "src"
    script = (f"mount --bind {media} {media} && mount -o remount,bind,ro {media} && "
              f"PYTHONPATH={src} {sys.executable} -m pharmcheck export --db {db} --format jsonl && "
              f"PYTHONPATH={src} {sys.executable} -m pharmcheck report --db {db} -o {tmp_path / 'r.html'}")
    out = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["url"] for line in out.stdout.splitlines()] == urls
    assert "site=1" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_two_resumes_of_one_run_do_not_fetch_the_same_sites(
        server: HostileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listing, _ = site_list(tmp_path, server, 6, path="/drip-body")  # 2 s each: the first audit is busy
    db = tmp_path / "audit.db"
    src = Path(__file__).resolve().parents[2] / "src"
    first = subprocess.Popen([sys.executable, "-m", "pharmcheck", "audit", str(listing), "--db", str(db),
                              *FAST[:-4], "--site-timeout", "2", "--timeout", "5", "-o", str(tmp_path / "a.jsonl")],
                             env={**os.environ, "PYTHONPATH": str(src)}, stderr=subprocess.PIPE, text=True)
    try:
        give_up = time.monotonic() + 60
        while not server.hits["/drip-body"]:  # fetching: past creating and locking its run
            assert first.poll() is None and time.monotonic() < give_up, "the first audit did not start"
            time.sleep(0.05)
        assert _runs(db) == 1
        hits_before = server.hits["/drip-body"]
        code, out, err = run(["audit", str(listing), "--db", str(db), *FAST, "--resume", "1"], capsys)
        assert code == ExitCode.USAGE, err
        assert "run 1" in err and "being audited by another pharmcheck process" in err
        assert out == ""
        assert server.hits["/drip-body"] - hits_before <= 1  # only the first audit's site in flight
    finally:
        first.kill()
        first.wait()
    # The lock went with the process (even killed): the run can be resumed now.
    code, _, err = run(["audit", str(listing), "--db", str(db), *FAST, "--resume", "1", "--site-timeout", "1"],
                       capsys)
    assert code == ExitCode.OK, err


def _runs(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
    except sqlite3.Error:
        return 0
