"""Opening the audit database named by `--db`: the one place that picks a backend, so that
neither backend module imports the other (store.py holds the shared queries and SQLite,
pgstore.py PostgreSQL on top of them)."""

from __future__ import annotations

from pharmcheck.audit.store import SqliteStore, Store, is_postgres_url


def open_store(db: str, migrate: bool = True, readonly: bool = False) -> Store:
    """The store for `--db`: a PostgreSQL URL or an SQLite file path. `readonly` (export,
    report): never write, so a database on read-only media can be read."""
    if is_postgres_url(db):
        from pharmcheck.audit.pgstore import PostgresStore

        return PostgresStore(db, migrate=migrate and not readonly)
    return SqliteStore(db, migrate=migrate, readonly=readonly)
