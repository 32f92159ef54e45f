"""The audit database (SQLite): runs, one row per audited site, and the findings apart so
that "which sites fired RX-..." is one query.

Each site is committed on its own as it finishes, in WAL mode: a `kill -9` loses at most
the sites in flight, and readers (`export`, a notebook) can query a run while it runs.
synchronous=NORMAL is durable across a crash of the process (what we guard against); only
a power cut may lose the last few commits, which `--resume` then audits again.

Useful queries:
    SELECT url, verdict, score FROM sites WHERE run_id = 3 ORDER BY score;
    SELECT DISTINCT url FROM findings WHERE run_id = 3 AND rule_id LIKE 'RX-%';
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pharmcheck.errors import UsageError
from pharmcheck.models import AuditRun, Report, ToolInfo, Verdict
from pharmcheck.networks import store as network_store

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    input         TEXT NOT NULL,          -- as given on the command line ('-' = stdin)
    input_key     TEXT NOT NULL,          -- absolute path: what --resume matches on
    arguments     TEXT NOT NULL,          -- JSON: the options the run was started with
    tool_name     TEXT NOT NULL,
    tool_version  TEXT NOT NULL,
    rules_version TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,                   -- NULL while running or after a crash/interrupt
    total         INTEGER                 -- unique sites in the input, when known
);
CREATE TABLE IF NOT EXISTS sites (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    url         TEXT NOT NULL,
    position    INTEGER NOT NULL,         -- place in the (de-duplicated) input
    final_url   TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    score       INTEGER NOT NULL,
    error_kind  TEXT,                     -- first fetch error of an unreachable site
    report      TEXT NOT NULL,            -- the full JSON report, as `check --format json`
    checked_at  TEXT NOT NULL,
    duration    REAL NOT NULL,
    PRIMARY KEY (run_id, url)
);
CREATE TABLE IF NOT EXISTS findings (
    run_id     INTEGER NOT NULL,
    url        TEXT NOT NULL,
    rule_id    TEXT NOT NULL,
    criterion  TEXT NOT NULL,
    severity   TEXT NOT NULL,
    confidence TEXT NOT NULL,
    weight     REAL NOT NULL,
    message    TEXT NOT NULL,
    FOREIGN KEY (run_id, url) REFERENCES sites(run_id, url)
);
CREATE INDEX IF NOT EXISTS findings_rule ON findings(rule_id, run_id);
CREATE INDEX IF NOT EXISTS findings_site ON findings(run_id, url);
CREATE INDEX IF NOT EXISTS sites_verdict ON sites(run_id, verdict);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def error_kind(report: Report) -> str | None:
    """Why a site could not be assessed (None when it was)."""
    if report.verdict != Verdict.unreachable:
        return None
    return report.errors[0].code.value if report.errors else "unknown"


class AuditStore:
    """One connection, used from one thread (the runner hands results to the caller's thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            if self.path.parent and not self.path.parent.exists():
                raise UsageError(f"database folder does not exist: {self.path.parent}")
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per site.
            self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UsageError(f"{self.path} was written by a newer pharmcheck (schema {version})")
            has_tables = self.db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            if has_tables and version == 0:
                raise UsageError(f"{self.path} is not a pharmcheck audit database")
            self.db.executescript(_SCHEMA)
            network_store.create(self.db)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"cannot open database {self.path}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    # --- runs -------------------------------------------------------------------------

    def start_run(self, input_spec: str, input_key: str, arguments: dict[str, Any], tool: ToolInfo,
                  total: int | None) -> AuditRun:
        started = now_iso()
        cur = self.db.execute(
            "INSERT INTO runs (input, input_key, arguments, tool_name, tool_version, rules_version, started_at, total)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (input_spec, input_key, json.dumps(arguments, sort_keys=True), tool.name, tool.version,
             tool.rules_version, started, total),
        )
        run_id = cur.lastrowid
        assert run_id is not None
        return self.get_run(run_id)

    def set_total(self, run_id: int, total: int) -> None:
        self.db.execute("UPDATE runs SET total = ? WHERE id = ?", (total, run_id))

    def finish_run(self, run_id: int) -> None:
        self.db.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (now_iso(), run_id))

    def get_run(self, run_id: int) -> AuditRun:
        row = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UsageError(f"no run {run_id} in {self.path}")
        return _run_from_row(row)

    def latest_run(self) -> AuditRun:
        row = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            raise UsageError(f"no audit runs in {self.path}")
        return _run_from_row(row)

    def resumable_run(self, input_key: str) -> AuditRun | None:
        """The latest unfinished run over the same input."""
        row = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE input_key = ? AND finished_at IS NULL ORDER BY id DESC LIMIT 1",
            (input_key,),
        ).fetchone()
        return _run_from_row(row) if row else None

    def input_key(self, run_id: int) -> str:
        row = self.db.execute("SELECT input_key FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UsageError(f"no run {run_id} in {self.path}")
        return str(row[0])

    def previous_run(self, run_id: int) -> AuditRun | None:
        """The latest run over the same input started before `run_id` (what a report compares with)."""
        row = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE input_key = (SELECT input_key FROM runs WHERE id = ?)"
            " AND id < ? ORDER BY id DESC LIMIT 1", (run_id, run_id)).fetchone()
        return _run_from_row(row) if row else None

    def runs(self) -> list[AuditRun]:
        return [_run_from_row(r) for r in self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id")]

    def delete_run(self, run_id: int) -> None:
        """Remove a run and everything stored for it, in one transaction (retention)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            network_store.delete_run(self.db, run_id)
            self.db.execute("DELETE FROM findings WHERE run_id = ?", (run_id,))
            self.db.execute("DELETE FROM sites WHERE run_id = ?", (run_id,))
            self.db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- sites ------------------------------------------------------------------------

    def add_site(self, run_id: int, position: int, report: Report) -> None:
        """Store one site's report and findings in one transaction, committed at once."""
        rows = [
            (run_id, report.url, f.rule_id, f.criterion, f.severity.value, f.confidence.value, f.weight, f.message)
            for f in report.findings
        ]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            # A site stored twice (a re-audited site) replaces its earlier row: never two rows.
            self.db.execute("DELETE FROM findings WHERE run_id = ? AND url = ?", (run_id, report.url))
            self.db.execute(
                "INSERT OR REPLACE INTO sites (run_id, url, position, final_url, verdict, score, error_kind, report,"
                " checked_at, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, report.url, position, report.final_url, report.verdict.value, report.score,
                 error_kind(report), report.model_dump_json(), report.checked_at, report.duration),
            )
            self.db.executemany("INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            network_store.add_site(self.db, run_id, report)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def done_urls(self, run_id: int) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT url FROM sites WHERE run_id = ?", (run_id,))}

    def count_sites(self, run_id: int) -> int:
        return int(self.db.execute("SELECT count(*) FROM sites WHERE run_id = ?", (run_id,)).fetchone()[0])

    def reports(self, run_id: int) -> Iterator[Report]:
        """Stored reports in input order, one at a time (a run may not fit in memory)."""
        cur = self.db.execute("SELECT report FROM sites WHERE run_id = ? ORDER BY position, url", (run_id,))
        for (text,) in cur:
            yield Report.model_validate_json(text)

    def verdict_counts(self, run_id: int) -> Counter[str]:
        rows = self.db.execute("SELECT verdict, count(*) FROM sites WHERE run_id = ? GROUP BY verdict", (run_id,))
        return Counter({verdict: n for verdict, n in rows})

    def error_counts(self, run_id: int) -> Counter[str]:
        rows = self.db.execute(
            "SELECT error_kind, count(*) FROM sites WHERE run_id = ? AND error_kind IS NOT NULL GROUP BY error_kind",
            (run_id,),
        )
        return Counter({kind: n for kind, n in rows})


_RUN_COLUMNS = "id, input, arguments, tool_name, tool_version, rules_version, started_at, finished_at, total"


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
