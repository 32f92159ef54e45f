"""The audit store on PostgreSQL (psycopg 3): `--db postgresql://USER@HOST[:PORT]/DB`.

Same schema and queries as SQLite (`store.SqlStore`); what differs is here: the connection
(autocommit, with an explicit transaction per site), `%s` parameters, a server-side cursor
for streaming reports, and an advisory lock that serialises migrations between machines.

Concurrent audits from several machines are safe: run ids come from an identity column, a
site is one row by primary key (run_id, url), and `add_site` writes it first in its
transaction, so a second writer of the same site waits for the first and then replaces it.
Install with `pip install pharmcheck[postgres]`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pharmcheck.audit.store import SqlStore
from pharmcheck.errors import UsageError

# Any constant shared by every pharmcheck: the key of the migration lock.
_MIGRATION_LOCK = 0x70686D63  # "phmc"
_STREAM_ROWS = 200  # reports fetched per round trip when streaming a run
_cursor_names = itertools.count(1)  # server-side cursors of one connection need distinct names


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"^(\w+://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _sql(query: str) -> str:
    # The shared queries use sqlite's `?`; psycopg wants `%s`, and a literal % (LIKE 'RX-%') as %%.
    # No query has a literal `?`.
    return query.replace("%", "%%").replace("?", "%s")


class PostgresStore(SqlStore):
    backend = "postgres"

    def __init__(self, url: str, migrate: bool = True) -> None:
        try:
            import psycopg
        except ImportError:
            raise UsageError("a postgresql:// database needs psycopg: pip install 'pharmcheck[postgres]'") from None
        self._psycopg = psycopg
        self.url = url
        self.location = redact(url)
        try:
            self.db = psycopg.connect(url, autocommit=True, connect_timeout=15,
                                      application_name="pharmcheck")
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"cannot connect to database {self.location}: {first}") from exc
        except Exception as exc:  # a malformed URL is refused by libpq's parser as ProgrammingError/ValueError
            raise UsageError(f"invalid database URL {self.location}: {exc}") from exc
        try:
            self._open_schema(migrate)
        except psycopg.Error as exc:
            self.db.close()
            raise UsageError(f"cannot open database {self.location}: {str(exc).strip()}") from exc
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def engine(self) -> str:
        version = self.db.info.server_version  # e.g. 150018
        return f"PostgreSQL {version // 10000}.{version % 100}"

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(_sql(sql), params).fetchall()

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.db.execute(_sql(sql), params)

    def _exec_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.db.cursor() as cur:
            cur.executemany(_sql(sql), rows)

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        # A named (server-side) cursor: rows come in pages, so a large run is never all in memory.
        with self.db.transaction(), self.db.cursor(name=f"pharmcheck_stream_{next(_cursor_names)}") as cur:
            cur.itersize = _STREAM_ROWS
            cur.execute(_sql(sql), params)
            yield from cur

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self.db.transaction():
            yield

    def _lock_schema(self) -> None:
        self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))

    def _table_exists(self, name: str) -> bool:
        # A query of pg_class itself, not to_regclass(): after the migration lock this reads with a
        # fresh snapshot and (by locking pg_class) makes the backend drop its cached "no such table",
        # so a machine that waited for another's migration sees the tables it created.
        row = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
            " ON n.oid = c.relnamespace WHERE c.relname = %s AND n.nspname = ANY (current_schemas(false)))",
            (name,)).fetchone()
        return bool(row and row[0])
