"""`pharmcheck db migrate` and `pharmcheck db info`: the audit database's schema, for both
backends (an SQLite file or a postgresql:// URL).

An audit applies missing migrations itself when it opens a database; `db migrate` does it
ahead of time (say, once before a fleet of machines starts), and `db info` only reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pharmcheck.audit.defaults import DEFAULT_DB
from pharmcheck.cli.audit import DB_HELP
from pharmcheck.cli.options import Parser
from pharmcheck.errors import UsageError
from pharmcheck.models import ExitCode


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="create, upgrade or describe an audit database",
                        description="Schema migrations and a summary of an audit database (SQLite or PostgreSQL).")
    dsub = db.add_subparsers(dest="db_command", metavar="ACTION", parser_class=Parser, required=True)
    migrate = dsub.add_parser("migrate", help="create the database or apply the schema migrations it is missing")
    migrate.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=DB_HELP)
    migrate.set_defaults(func=cmd_db_migrate)
    info = dsub.add_parser("info", help="backend, schema version and runs of a database (changes nothing)")
    info.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=DB_HELP)
    info.set_defaults(func=cmd_db_info)


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from pharmcheck.audit.database import open_store

    store = open_store(args.db, migrate=False)
    try:
        before = store.schema_state().version
        applied = store.migrate()
        after = store.schema_state()
    finally:
        store.close()
    if applied:
        print(f"{store.location}: schema version {before} -> {after.version} "
              f"(applied {', '.join(str(v) for v in applied)})")
    else:
        print(f"{store.location}: schema version {after.version}, up to date")
    return ExitCode.OK


def cmd_db_info(args: argparse.Namespace) -> int:
    from pharmcheck.audit.database import open_store
    from pharmcheck.audit.store import is_postgres_url

    if not is_postgres_url(args.db) and not Path(args.db).is_file():
        raise UsageError(f"database not found: {args.db} (`pharmcheck db migrate --db {args.db}` creates it)")
    store = open_store(args.db, migrate=False)
    try:
        state = store.schema_state()
        lines = [f"database: {store.location}", f"backend:  {store.engine()}"]
        status = "up to date" if not state.pending else (
            f"{state.pending} migration(s) pending: run `pharmcheck db migrate` (an audit also applies them)")
        lines.append(f"schema:   version {state.version} of {state.latest}, {status}")
        for version, name, applied_at in state.applied:
            lines.append(f"  {version}: {name}" + (f" (applied {applied_at})" if applied_at else ""))
        if state.version:
            runs = store.count_runs()
            lines.append(f"runs:     {runs}, {store.count_sites()} sites stored in all")
            if runs:
                run = store.latest_run()
                total = f" of {run.total}" if run.total is not None else ""
                status = f"finished {run.finished_at}" if run.finished_at else "unfinished"
                lines.append(f"latest:   run {run.id} over {run.input}, started {run.started_at}, {status}, "
                             f"{store.count_sites(run.id)}{total} sites, rules {run.tool.rules_version}")
    finally:
        store.close()
    sys.stdout.write("\n".join(lines) + "\n")
    return ExitCode.OK

