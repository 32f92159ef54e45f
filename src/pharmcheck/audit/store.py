"""The audit database: runs, one row per audited site, and the findings apart so that "which
sites fired RX-..." is one query. Two backends behind one interface (`Store`):

- SQLite (the default, `--db FILE`): each site committed on its own as it finishes, in WAL
  mode, so a `kill -9` loses at most the sites in flight and readers (`export`, a notebook)
  can query a run while it runs. synchronous=NORMAL is durable across a crash of the process
  (what we guard against); only a power cut may lose the last few commits, which `--resume`
  then audits again.
- PostgreSQL (`--db postgresql://USER@HOST/DB`, `pgstore.PostgresStore`): the same schema and
  queries, for audits from several machines into one shared database.

The queries live once, in `SqlStore`, written in the SQL both backends speak (`?` parameters,
`ON CONFLICT` upserts, `RETURNING`); the DDL of each backend is in `migrations`.

Useful queries:
    SELECT url, verdict, score FROM sites WHERE run_id = 3 ORDER BY score;
    SELECT DISTINCT url FROM findings WHERE run_id = 3 AND rule_id LIKE 'RX-%';
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from pharmcheck import TOOL_NAME
from pharmcheck.audit.migrations import LATEST, MIGRATIONS, VERSIONS_TABLE
from pharmcheck.errors import PharmcheckError, UsageError
from pharmcheck.models import AuditRun, Report, ToolInfo, Verdict
from pharmcheck.networks import store as network_store

SCHEMA_VERSION = LATEST


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def error_kind(report: Report) -> str | None:
    """Why a site could not be assessed (None when it was)."""
    if report.verdict != Verdict.unreachable:
        return None
    return report.errors[0].code.value if report.errors else "unknown"


class StoreFull(PharmcheckError):
    """The database's disk (or quota) is full: what was committed before is intact, the
    write that failed was rolled back. The audit command adds the resume command."""


class RunBusy(PharmcheckError):
    """Another pharmcheck process is auditing this run right now."""


# Called for a stored report that cannot be read back: (run id, site URL, what is wrong).
CorruptRow = Callable[[int, str, str], None]


def warn_corrupt_row(run_id: int, url: str, problem: str) -> None:
    print(f"{TOOL_NAME}: warning: run {run_id}, site {url}: stored report is corrupt ({problem}); skipped",
          file=sys.stderr)


def is_postgres_url(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True)
class SchemaState:
    version: int  # 0 = empty database
    latest: int  # what this pharmcheck knows
    applied: list[tuple[int, str, str]]  # (version, name, applied_at)

    @property
    def pending(self) -> int:
        return max(0, self.latest - self.version)


class Store(Protocol):
    """What the audit, export and report commands need from a database."""

    backend: str  # "sqlite" or "postgres"
    location: str  # file path or URL without password, for messages

    def close(self) -> None: ...

    def engine(self) -> str:
        """The database engine and its version, e.g. "PostgreSQL 15.4"."""
        ...

    def schema_state(self) -> SchemaState: ...

    def migrate(self) -> list[int]:
        """Apply the missing migrations; return the versions applied now."""
        ...

    def start_run(self, input_spec: str, input_key: str, arguments: dict[str, Any], tool: ToolInfo,
                  total: int | None) -> AuditRun: ...

    def set_total(self, run_id: int, total: int) -> None: ...

    def finish_run(self, run_id: int) -> None: ...

    def get_run(self, run_id: int) -> AuditRun: ...

    def latest_run(self) -> AuditRun: ...

    def resumable_run(self, input_key: str) -> AuditRun | None: ...

    def input_key(self, run_id: int) -> str: ...

    def count_runs(self) -> int: ...

    def add_site(self, run_id: int, position: int, report: Report) -> None: ...

    def done_urls(self, run_id: int) -> set[str]: ...

    def count_sites(self, run_id: int | None = None) -> int: ...

    def reports(self, run_id: int, on_corrupt: CorruptRow = warn_corrupt_row) -> Iterator[Report]: ...

    def lock_run(self, run_id: int) -> None:
        """Claim `run_id` for this process until the store is closed; RunBusy if another has it."""
        ...

    def verdict_counts(self, run_id: int) -> Counter[str]: ...

    def error_counts(self, run_id: int) -> Counter[str]: ...

    def previous_run(self, run_id: int) -> AuditRun | None: ...

    def runs(self) -> list[AuditRun]: ...

    def delete_run(self, run_id: int) -> None: ...

    # Plain statements, for the modules that keep their own tables here (networks/, diffs).
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def transaction(self) -> AbstractContextManager[None]: ...


_RUN_COLUMNS = "id, input, arguments, tool_name, tool_version, rules_version, started_at, finished_at, total"


class SqlStore:
    """The queries, shared by both backends. A subclass provides the connection: how to run a
    statement, stream rows, and hold a transaction; and the migration lock."""

    backend = "sql"
    location = ""

    # --- backend hooks ----------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def _exec_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def lock_run(self, run_id: int) -> None:
        """Claim `run_id` for this process (see Store.lock_run); each backend has its own lock."""
        raise NotImplementedError

    def _lock_schema(self) -> None:
        """Inside the migration transaction: keep other openers out until it commits."""

    def _table_exists(self, name: str) -> bool:
        raise NotImplementedError

    def _legacy_version(self) -> int:
        """The schema version of a database made before `schema_migrations` existed."""
        return 0

    def _after_migration(self, version: int) -> None:
        pass

    def close(self) -> None:
        raise NotImplementedError

    def engine(self) -> str:
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._rows(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._exec(sql, params)

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._exec_many(sql, rows)

    def transaction(self) -> AbstractContextManager[None]:
        return self._transaction()

    # --- schema -----------------------------------------------------------------------

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def schema_state(self) -> SchemaState:
        if not self._table_exists("schema_migrations"):
            legacy = self._legacy_version()
            applied = [(m.version, m.name, "") for m in MIGRATIONS if m.version <= legacy]
            return SchemaState(legacy, LATEST, applied)
        rows = self._rows("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
        applied = [(int(v), str(n), str(a)) for v, n, a in rows]
        return SchemaState(max((v for v, _, _ in applied), default=0), LATEST, applied)

    def _check_schema(self, state: SchemaState) -> None:
        if state.version > LATEST:
            raise UsageError(f"{self.location} was written by a newer pharmcheck (schema {state.version}; "
                             f"this one knows up to {LATEST})")
        if state.version == 0 and self._table_exists("runs"):
            raise UsageError(f"{self.location} is not a pharmcheck audit database")

    def migrate(self) -> list[int]:
        applied: list[int] = []
        with self._transaction():
            self._lock_schema()
            state = self.schema_state()  # read under the lock: another machine may have just migrated
            self._check_schema(state)
            if state.version == LATEST and self._table_exists("schema_migrations"):
                return applied  # the usual case on open: nothing to do
            self._exec(VERSIONS_TABLE[self.backend])
            for version, name, _ in state.applied:  # a pre-migrations database: record what it has
                self._exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
                           " ON CONFLICT (version) DO NOTHING", (version, name, now_iso()))
            for migration in MIGRATIONS:
                if migration.version <= state.version:
                    continue
                for statement in migration.statements(self.backend):
                    self._exec(statement)
                self._exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                           (migration.version, migration.name, now_iso()))
                self._after_migration(migration.version)
                applied.append(migration.version)
        return applied

    def _open_schema(self, migrate: bool) -> None:
        """On open: apply what is missing (or, without `migrate`, only check it is ours). The check
        is made under the migration lock, so it never sees another machine's migration half done."""
        if migrate:
            self.migrate()
        else:
            self._check_schema(self.schema_state())

    # --- runs -------------------------------------------------------------------------

    def start_run(self, input_spec: str, input_key: str, arguments: dict[str, Any], tool: ToolInfo,
                  total: int | None) -> AuditRun:
        row = self._one(
            "INSERT INTO runs (input, input_key, arguments, tool_name, tool_version, rules_version, started_at, total)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (input_spec, input_key, json.dumps(arguments, sort_keys=True), tool.name, tool.version,
             tool.rules_version, now_iso(), total),
        )
        assert row is not None
        return self.get_run(int(row[0]))

    def set_total(self, run_id: int, total: int) -> None:
        self._exec("UPDATE runs SET total = ? WHERE id = ?", (total, run_id))

    def finish_run(self, run_id: int) -> None:
        self._exec("UPDATE runs SET finished_at = ? WHERE id = ?", (now_iso(), run_id))

    def get_run(self, run_id: int) -> AuditRun:
        row = self._one(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise UsageError(f"no run {run_id} in {self.location}")
        return _run_from_row(row)

    def latest_run(self) -> AuditRun:
        row = self._one(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT 1")
        if row is None:
            raise UsageError(f"no audit runs in {self.location}")
        return _run_from_row(row)

    def resumable_run(self, input_key: str) -> AuditRun | None:
        """The latest unfinished run over the same input."""
        row = self._one(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE input_key = ? AND finished_at IS NULL ORDER BY id DESC LIMIT 1",
            (input_key,),
        )
        return _run_from_row(row) if row else None

    def input_key(self, run_id: int) -> str:
        row = self._one("SELECT input_key FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise UsageError(f"no run {run_id} in {self.location}")
        return str(row[0])

    def count_runs(self) -> int:
        row = self._one("SELECT count(*) FROM runs")
        return int(row[0]) if row else 0

    def previous_run(self, run_id: int) -> AuditRun | None:
        """The latest run over the same input started before `run_id` (what a report compares with)."""
        row = self._one(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE input_key = (SELECT input_key FROM runs WHERE id = ?)"
            " AND id < ? ORDER BY id DESC LIMIT 1", (run_id, run_id))
        return _run_from_row(row) if row else None

    def runs(self) -> list[AuditRun]:
        return [_run_from_row(r) for r in self._rows(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id")]

    def delete_run(self, run_id: int) -> None:
        """Remove a run and everything stored for it, in one transaction (retention)."""
        with self._transaction():
            network_store.delete_run(self, run_id)
            self._exec("DELETE FROM findings WHERE run_id = ?", (run_id,))
            self._exec("DELETE FROM sites WHERE run_id = ?", (run_id,))
            self._exec("DELETE FROM runs WHERE id = ?", (run_id,))

    # --- sites ------------------------------------------------------------------------

    def add_site(self, run_id: int, position: int, report: Report) -> None:
        """Store one site's report and findings in one transaction, committed at once.

        A site stored twice (re-audited, or by two machines at once) replaces its earlier row:
        never two rows. The site row is written first: its key lock makes a second writer of
        the same site wait, so its findings replace the first writer's instead of adding to them."""
        rows = [
            (run_id, report.url, f.rule_id, f.criterion, f.severity.value, f.confidence.value, f.weight, f.message)
            for f in report.findings
        ]
        with self._transaction():
            self._exec(
                "INSERT INTO sites (run_id, url, position, final_url, verdict, score, error_kind, report,"
                " checked_at, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, url) DO UPDATE SET position = excluded.position,"
                " final_url = excluded.final_url, verdict = excluded.verdict, score = excluded.score,"
                " error_kind = excluded.error_kind, report = excluded.report, checked_at = excluded.checked_at,"
                " duration = excluded.duration",
                (run_id, report.url, position, report.final_url, report.verdict.value, report.score,
                 error_kind(report), report.model_dump_json(), report.checked_at, report.duration),
            )
            self._exec("DELETE FROM findings WHERE run_id = ? AND url = ?", (run_id, report.url))
            if rows:
                self._exec_many("INSERT INTO findings (run_id, url, rule_id, criterion, severity, confidence,"
                                " weight, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            network_store.add_site(self, run_id, report)

    def done_urls(self, run_id: int) -> set[str]:
        return {row[0] for row in self._stream("SELECT url FROM sites WHERE run_id = ?", (run_id,))}

    def count_sites(self, run_id: int | None = None) -> int:
        row = (self._one("SELECT count(*) FROM sites") if run_id is None
               else self._one("SELECT count(*) FROM sites WHERE run_id = ?", (run_id,)))
        return int(row[0]) if row else 0

    # How the report column is selected: as bytes where the backend may hold bytes that are
    # not UTF-8 (a garbled SQLite file), so one bad row cannot stop the stream.
    _report_column = "report"

    def reports(self, run_id: int, on_corrupt: CorruptRow = warn_corrupt_row) -> Iterator[Report]:
        """Stored reports in input order, one at a time (a run may not fit in memory). A row
        that cannot be read back is handed to `on_corrupt` (run, site, problem) and skipped."""
        sql = f"SELECT url, {self._report_column} FROM sites WHERE run_id = ? ORDER BY position, url"
        for url, stored in self._stream(sql, (run_id,)):
            try:
                text = stored.decode("utf-8") if isinstance(stored, bytes) else stored
                yield Report.model_validate_json(text)
            except UnicodeDecodeError:
                on_corrupt(run_id, str(url), "not UTF-8 text")
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                on_corrupt(run_id, str(url), f"{where + ': ' if where else ''}{err['msg']}"[:200])

    def verdict_counts(self, run_id: int) -> Counter[str]:
        rows = self._rows("SELECT verdict, count(*) FROM sites WHERE run_id = ? GROUP BY verdict", (run_id,))
        return Counter({verdict: int(n) for verdict, n in rows})

    def error_counts(self, run_id: int) -> Counter[str]:
        rows = self._rows(
            "SELECT error_kind, count(*) FROM sites WHERE run_id = ? AND error_kind IS NOT NULL GROUP BY error_kind",
            (run_id,),
        )
        return Counter({kind: int(n) for kind, n in rows})


class SqliteStore(SqlStore):
    """One SQLite connection, used from one thread (runners hand results to the caller's thread)."""

    backend = "sqlite"

    _report_column = "CAST(report AS BLOB)"

    def __init__(self, path: str | Path, migrate: bool = True, readonly: bool = False) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.readonly = readonly
        self._lock_file: int | None = None
        try:
            if self.path.parent and not self.path.parent.exists():
                raise UsageError(f"database folder does not exist: {self.path.parent}")
            if readonly:
                self.db = self._connect_readonly()
                self._check_schema(self.schema_state())
                return
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per site.
            self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._open_schema(migrate)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc, "cannot open database") from exc

    def _connect_readonly(self) -> sqlite3.Connection:
        """A connection that never writes. On read-only media a WAL database cannot make its
        -shm file, so it is opened `immutable` there (nobody can be writing it)."""
        uri = self.path.resolve().as_uri()
        writable_dir = os.access(self.path.parent if str(self.path.parent) else Path("."), os.W_OK)
        modes = ["mode=ro", "immutable=1"] if writable_dir else ["immutable=1"]
        for i, mode in enumerate(modes):
            db = sqlite3.connect(f"{uri}?{mode}", uri=True, isolation_level=None, timeout=30)
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.OperationalError:
                db.close()
                if i == len(modes) - 1:
                    raise
        raise AssertionError("unreachable")

    def _translate(self, exc: sqlite3.Error, doing: str) -> PharmcheckError:
        """A database error as what the user must do about it."""
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_FULL" or "disk is full" in str(exc):
            return StoreFull(f"disk full: cannot write {self.path} ({exc})")
        if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in str(exc):
            return UsageError(f"{doing} {self.path}: the file is damaged ({exc}); "
                              f"try `sqlite3 {self.path} .recover`")
        if name == "SQLITE_READONLY":
            return UsageError(f"{doing} {self.path}: it is read-only ({exc})")
        return UsageError(f"{doing} {self.path}: {exc}")

    def lock_run(self, run_id: int) -> None:
        # One byte per run in `<db>.lock`, locked with fcntl: the OS drops it when the process
        # ends, even by kill -9, so a crashed audit never leaves its run locked. (Not the
        # database file itself: closing any other descriptor of it would drop SQLite's locks.)
        if self._lock_file is None:
            try:
                self._lock_file = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise UsageError(f"cannot create {self.path}.lock: {exc.strerror or exc}") from exc
        try:
            fcntl.lockf(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, run_id)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise RunBusy(f"run {run_id} in {self.path} is being audited by another pharmcheck process "
                              "right now; wait for it to finish (or stop it) before resuming") from exc
            raise

    def close(self) -> None:
        self.db.close()
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    def engine(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc, "cannot read") from exc

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self.db.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc, "cannot write") from exc

    def _exec_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.db.executemany(sql, rows)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc, "cannot write") from exc

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        try:
            yield from self.db.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc, "cannot read") from exc

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE: take the write lock now, so two writers queue instead of failing at COMMIT.
        self._exec("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:  # SQLite may have rolled back already (e.g. disk full)
                self.db.execute("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise self._translate(exc, "cannot write") from exc

    def _table_exists(self, name: str) -> bool:
        row = self.db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                              (name,)).fetchone()
        return bool(row[0])

    def _legacy_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _check_schema(self, state: SchemaState) -> None:
        has_tables = self.db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
        if has_tables and state.version == 0:
            raise UsageError(f"{self.path} is not a pharmcheck audit database")
        super()._check_schema(state)

    def _after_migration(self, version: int) -> None:
        # Mirrored for pharmcheck 0.1, which refuses a database whose user_version it does not know.
        self.db.execute(f"PRAGMA user_version={int(version)}")


# The SQLite store's name from before there were two backends (kept for callers that use it).
AuditStore = SqliteStore


def _run_from_row(row: tuple[Any, ...]) -> AuditRun:
    run_id, input_spec, arguments, name, version, rules_version, started, finished, total = row
    return AuditRun(
        id=run_id,
        input=input_spec,
        arguments=json.loads(arguments),
        tool=ToolInfo(name=name, version=version, rules_version=rules_version),
        started_at=started,
        finished_at=finished,
        total=total,
    )
