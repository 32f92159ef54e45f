"""The audit store on both backends: SQLite files and a real PostgreSQL server started by the
tests (tests/pgkit.py). The same behaviour is asserted on both; PostgreSQL also gets
concurrent writers and openers, as several audit machines sharing one database would be."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pharmcheck.audit.database import open_store
from pharmcheck.audit.migrations import LATEST
from pharmcheck.audit.store import SqliteStore, Store
from pharmcheck.check import CheckContext, check_site
from pharmcheck.cli import main
from pharmcheck.errors import UsageError
from pharmcheck.fetch import ArchiveIndex
from pharmcheck.models import FetchOptions, Report, ToolInfo
from pharmcheck.ruleset import RuleSet
from sitekit import EXAMPLES

TOOL = ToolInfo(name="pharmcheck", version="0.1.0", rules_version="test")
ROGUE_URL = "https://cheap-meds-24.example/"
LEGIT_URL = "https://www.northbridge-pharmacy.example/"


@pytest.fixture(scope="module")
def reports(ruleset: RuleSet) -> dict[str, Report]:
    ctx = CheckContext(ruleset=ruleset, options=FetchOptions(), archive=ArchiveIndex(str(EXAMPLES)))
    return {url: check_site(url, ctx) for url in (ROGUE_URL, LEGIT_URL)}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "audit.db")
    return str(request.getfixturevalue("postgres_url"))


def _sql(store: Store, query: str) -> list[tuple]:
    return store._rows(query)  # type: ignore[attr-defined]


def test_both_backends_store_one_row_per_site_resume_and_give_reports_back_in_input_order(
        db: str, reports: dict[str, Report]) -> None:
    store = open_store(db)
    run = store.start_run("list.txt", "/abs/list.txt", {"workers": 4}, TOOL, total=2)
    other = store.start_run("other.txt", "/abs/other.txt", {}, TOOL, total=None)
    assert other.id == run.id + 1
    store.add_site(run.id, 1, reports[ROGUE_URL])
    store.add_site(run.id, 1, reports[ROGUE_URL])  # stored again: replaces, never duplicates
    store.add_site(run.id, 0, reports[LEGIT_URL])
    assert store.resumable_run("/abs/list.txt") == run
    assert store.done_urls(run.id) == {ROGUE_URL, LEGIT_URL}
    store.finish_run(run.id)
    assert store.resumable_run("/abs/list.txt") is None
    assert store.latest_run().id == other.id
    assert list(store.reports(run.id)) == [reports[LEGIT_URL], reports[ROGUE_URL]]  # input order, same reports
    assert store.verdict_counts(run.id) == {"rogue": 1, "legitimate": 1}
    assert store.count_sites() == 2 and store.count_runs() == 2
    n_findings = len(reports[ROGUE_URL].findings) + len(reports[LEGIT_URL].findings)
    assert _sql(store, "SELECT count(*) FROM findings") == [(n_findings,)]
    assert _sql(store, "SELECT DISTINCT url FROM findings WHERE rule_id LIKE 'RX-NO-%'") == [(ROGUE_URL,)]
    with pytest.raises(UsageError, match="no run 99"):
        store.get_run(99)
    store.close()


def test_migrations_are_recorded_applied_on_open_once_and_a_newer_schema_is_refused(db: str) -> None:
    store = open_store(db)
    state = store.schema_state()
    assert state.version == LATEST and state.pending == 0
    assert [v for v, _, _ in state.applied] == list(range(1, LATEST + 1))
    assert store.migrate() == []  # nothing left to apply
    store._exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",  # type: ignore[attr-defined]
                (LATEST + 1, "from the future", "2030-01-01"))
    store.close()
    with pytest.raises(UsageError, match="newer pharmcheck"):
        open_store(db)


def test_an_sqlite_database_of_pharmcheck_0_1_is_recognised_and_recorded(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, input TEXT NOT NULL, input_key TEXT "
                       "NOT NULL, arguments TEXT NOT NULL, tool_name TEXT NOT NULL, tool_version TEXT NOT NULL, "
                       "rules_version TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, total INTEGER);"
                       "INSERT INTO runs VALUES (7, 'a.txt', '/a.txt', '{}', 'pharmcheck', '0.1.0', 'r', 't', NULL, 3);"
                       "PRAGMA user_version=1;")
    conn.close()
    store = SqliteStore(db)
    assert store.latest_run().id == 7
    assert [v for v, _, _ in store.schema_state().applied] == list(range(1, LATEST + 1))
    store.close()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == LATEST


def test_a_postgres_database_holding_other_tables_named_runs_is_refused(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER)")
    with pytest.raises(UsageError, match="not a pharmcheck audit database"):
        open_store(postgres_url)


def _together(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run `work(i)` on `count` threads released at the same moment; return their errors."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_postgres_machines_opening_a_fresh_database_at_once_apply_each_migration_once(postgres_url: str) -> None:
    stores: list[Store] = []
    assert _together(6, lambda i: stores.append(open_store(postgres_url))) == []
    assert _sql(stores[0], "SELECT version FROM schema_migrations") == [(v,) for v in range(1, LATEST + 1)]
    for store in stores:
        store.close()


def test_postgres_concurrent_writers_of_one_run_lose_and_duplicate_nothing(
        postgres_url: str, reports: dict[str, Report]) -> None:
    setup = open_store(postgres_url)
    run = setup.start_run("list.txt", "/abs/list.txt", {}, TOOL, total=None)
    rogue = reports[ROGUE_URL]
    sites = [rogue.model_copy(update={"url": f"https://shop-{i}.example/"}) for i in range(40)]
    writers = [open_store(postgres_url) for _ in range(4)]

    def write(i: int) -> None:
        # Every writer stores every site (as two machines resuming one run would): overlapping keys.
        order = sites if i % 2 == 0 else sites[::-1]
        for position, report in enumerate(order):
            writers[i].add_site(run.id, position, report)

    assert _together(4, write) == []
    assert setup.count_sites(run.id) == 40
    per_site = _sql(setup, "SELECT count(*) FROM findings GROUP BY url")
    assert per_site == [(len(rogue.findings),)] * 40
    more = _together(4, lambda i: writers[i].start_run("x", "/x", {}, TOOL, None) and None)
    assert more == [] and setup.count_runs() == 5  # identity column: five distinct run ids
    for store in (setup, *writers):
        store.close()


@pytest.fixture
def listing(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sites.txt"
    path.write_text(f"{ROGUE_URL}\n{LEGIT_URL}\n")
    yield path


def test_audit_export_and_db_commands_on_postgres(postgres_url: str, listing: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "migrate", "--db", postgres_url]) == 0
    assert f"schema version 0 -> {LATEST}" in capsys.readouterr().out
    assert main(["db", "migrate", "--db", postgres_url]) == 0
    assert "up to date" in capsys.readouterr().out
    code = main(["audit", str(listing), "--db", postgres_url, "--replay", str(EXAMPLES), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "verdicts: legitimate 1 · rogue 1" in err
    assert main(["export", "--db", postgres_url, "--format", "jsonl"]) == 0
    exported = capsys.readouterr().out.splitlines()
    assert sorted(exported) == sorted(out.splitlines())  # what the audit streamed is what the database gives back
    assert [json.loads(line)["url"] for line in exported] == [ROGUE_URL, LEGIT_URL]  # in input order
    assert main(["report", "--db", postgres_url, "-o", str(tmp_path / "r.html")]) == 0
    assert "cheap-meds-24[.]example" in (tmp_path / "r.html").read_text()
    capsys.readouterr()
    assert main(["db", "info", "--db", postgres_url]) == 0
    info = capsys.readouterr().out
    assert "backend:  PostgreSQL 1" in info and f"version {LATEST} of {LATEST}, up to date" in info
    assert "runs:     1, 2 sites stored in all" in info and "2 of 2 sites" in info


def test_db_info_and_migrate_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "new.db")
    assert main(["db", "info", "--db", db]) == 2
    assert "database not found" in capsys.readouterr().err
    assert main(["db", "migrate", "--db", db]) == 0
    assert f"schema version 0 -> {LATEST}" in capsys.readouterr().out
    assert main(["db", "info", "--db", db]) == 0
    info = capsys.readouterr().out
    assert "backend:  SQLite 3" in info and "runs:     0, 0 sites stored in all" in info


def test_an_unreachable_or_malformed_postgres_url_is_one_line_and_exit_2(
        listing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for url in (f"postgresql://someone:secret@127.0.0.1:{port}/audits", "postgresql://host:notaport/db"):
        assert main(["audit", str(listing), "--db", url, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("pharmcheck: error: ")
        assert "secret" not in err


def test_output_to_a_pipe_or_device_is_written_to_not_renamed_over(tmp_path: Path, listing: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`-o /dev/null` or `-o fifo` with a whole-document format must not replace the device
    with a plain file (as root, a rename over /dev/null would)."""
    import os
    import stat

    db = str(tmp_path / "a.db")
    assert main(["audit", str(listing), "--db", db, "--replay", str(EXAMPLES), "--no-progress"]) == 0
    capsys.readouterr()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    assert main(["export", "--db", db, "--format", "json", "-o", str(fifo)]) == 0
    reader.join(10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert len(received) == 1 and len(json.loads(received[0])["reports"]) == 2
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    assert main(["check", ROGUE_URL, "--replay", str(EXAMPLES), "--format", "json", "-o", str(fifo)]) == 1
    reader.join(10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert len(received) == 2 and json.loads(received[1])["verdict"] == "rogue"


def test_a_run_is_claimed_by_one_process_at_a_time_on_both_backends(db: str) -> None:
    from pharmcheck.audit.store import RunBusy

    store = open_store(db)
    run = store.start_run("list.txt", "/abs/list.txt", {}, TOOL, total=1)
    other = store.start_run("other.txt", "/abs/other.txt", {}, TOOL, total=1)
    # Another process (another machine, for PostgreSQL) holds run 1, as a running audit would.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pharmcheck.audit.database import open_store; "
         f"s = open_store({db!r}); s.lock_run({run.id}); print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunBusy, match=f"run {run.id} .* being audited by another pharmcheck process"):
            store.lock_run(run.id)
        store.lock_run(other.id)  # only that run is claimed, not the database
        holder.kill()  # the claim ends with its holder, however it ends (kill -9 included)
        holder.wait(timeout=30)
        for _ in range(50):  # PostgreSQL notices the dropped connection within moments
            try:
                store.lock_run(run.id)
                break
            except RunBusy:
                time.sleep(0.1)
        else:
            pytest.fail("the run stayed claimed after its holder died")
    finally:
        holder.kill()
        store.close()
