"""`pharmcheck audit networks|diff|prune`: what a stored run says across sites and over time.

argparse cannot give `audit` both a positional input file and actions, so `route_argv`
turns `audit networks ...` into the `audit-networks` command (a list file named like an
action is given as `./networks`).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pharmcheck import TOOL_NAME
from pharmcheck.cli.options import add_rules_option, positive_int
from pharmcheck.errors import UsageError
from pharmcheck.models import AuditRun, ExitCode
from pharmcheck.report.output import write_output

if TYPE_CHECKING:
    from pharmcheck.audit.store import Store

DEFAULT_DB = "pharmcheck.db"
ACTIONS = ("networks", "diff", "prune")


def route_argv(argv: list[str]) -> list[str]:
    for i, token in enumerate(argv):
        if token.startswith("-"):
            continue
        if token == "audit" and i + 1 < len(argv) and argv[i + 1] in ACTIONS:
            return [*argv[:i], f"audit-{argv[i + 1]}", *argv[i + 2:]]
        return argv
    return argv


def _run_id(text: str) -> int:
    return positive_int(text)


def register(sub: argparse._SubParsersAction) -> None:
    networks = sub.add_parser(
        "audit-networks", prog=f"{TOOL_NAME} audit networks", help="affiliate networks of a stored run (= audit networks)",
        description="Sites of one audit run linked by shared identifiers (phones, e-mails, tag manager, analytics, "
                    "chat and wallet IDs, certificates...) or near-identical templates, with the evidence of every link.")
    networks.add_argument("run", nargs="?", type=_run_id, metavar="RUN", help="run id (default: the latest run)")
    networks.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help=f"SQLite database (default {DEFAULT_DB})")
    networks.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    networks.add_argument("-o", "--output", default="-", metavar="FILE", help="write to FILE ('-' = stdout)")
    networks.add_argument("--recompute", action="store_true",
                          help="cluster again (after changing rules/data/networks.yaml) instead of reading the stored networks")
    add_rules_option(networks)
    networks.set_defaults(func=cmd_networks)

    diff = sub.add_parser(
        "audit-diff", prog=f"{TOOL_NAME} audit diff", help="what changed between two stored runs (= audit diff)",
        description="Sites whose verdict changed, new and vanished sites, new findings and red flags, score moves "
                    "beyond a threshold and sites that became unreachable, from RUN_A to RUN_B.")
    diff.add_argument("run_a", type=_run_id, metavar="RUN_A", help="the earlier run")
    diff.add_argument("run_b", type=_run_id, metavar="RUN_B", help="the later run")
    diff.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help=f"SQLite database (default {DEFAULT_DB})")
    add_diff_options(diff)
    diff.add_argument("-o", "--output", default="-", metavar="FILE", help="write to FILE ('-' = stdout)")
    diff.set_defaults(func=cmd_diff)

    prune = sub.add_parser(
        "audit-prune", prog=f"{TOOL_NAME} audit prune", help="remove old runs from the database (= audit prune)",
        description="Retention: remove whole runs (their sites, findings and networks). Runs are never changed, "
                    "only removed.")
    prune.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help=f"SQLite database (default {DEFAULT_DB})")
    prune.add_argument("--keep", type=positive_int, metavar="N",
                       help="keep the N latest runs of each input list")
    prune.add_argument("--older-than", type=positive_int, metavar="DAYS",
                       help="remove runs started more than DAYS days ago")
    prune.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    prune.set_defaults(func=cmd_prune)


def add_diff_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["text", "json", "csv"], default="text", help="diff format (default text)")
    p.add_argument("--score-threshold", type=positive_int, default=10, metavar="N",
                   help="report score moves of at least N points (default 10)")
    p.add_argument("--fail-on", choices=["suspicious", "rogue"], default=None,
                   help="exit 1 when a site reached this verdict or worse (new, or from a better verdict)")


def _open(db: str) -> Store:
    from pharmcheck.audit.database import open_store
    from pharmcheck.audit.store import is_postgres_url

    if not is_postgres_url(db) and not Path(db).is_file():
        raise UsageError(f"database not found: {db}")
    return open_store(db)


def _rules_of(run: AuditRun, args: argparse.Namespace) -> str | None:
    given = getattr(args, "rules", None)
    return given if given is not None else run.arguments.get("rules")


def cmd_networks(args: argparse.Namespace) -> int:
    from pharmcheck.networks.compute import networks_of_run
    from pharmcheck.networks.render import RENDERERS
    from pharmcheck.ruleset import load_scoring

    store = _open(args.db)
    try:
        run = store.get_run(args.run) if args.run else store.latest_run()
        rules = _rules_of(run, args)
        data = networks_of_run(store, run.id, rules, load_scoring(rules), recompute=args.recompute)
    finally:
        store.close()
    write_output(args.output, RENDERERS[args.format](data))
    return ExitCode.OK


def cmd_diff(args: argparse.Namespace) -> int:
    from pharmcheck.audit.diff import RENDERERS, diff_runs

    store = _open(args.db)
    try:
        store.get_run(args.run_a)
        store.get_run(args.run_b)
        diff = diff_runs(store, args.run_a, args.run_b, args.score_threshold)
    finally:
        store.close()
    write_output(args.output, RENDERERS[args.format](diff))
    if args.fail_on and diff.appeared_at_or_above(args.fail_on):
        return ExitCode.FAIL_ON
    return ExitCode.OK


def cmd_prune(args: argparse.Namespace) -> int:
    if args.keep is None and args.older_than is None:
        raise UsageError("say what to remove: --keep N and/or --older-than DAYS")
    store = _open(args.db)
    try:
        runs = store.runs()
        doomed: dict[int, AuditRun] = {}
        if args.keep is not None:
            by_input: dict[str, list[AuditRun]] = {}
            for run in runs:
                by_input.setdefault(store.input_key(run.id), []).append(run)
            for same in by_input.values():
                for run in same[:-args.keep]:
                    doomed[run.id] = run
        if args.older_than is not None:
            limit = datetime.now(timezone.utc) - timedelta(days=args.older_than)
            for run in runs:
                if datetime.fromisoformat(run.started_at) < limit:
                    doomed[run.id] = run
        for run_id in sorted(doomed):
            run = doomed[run_id]
            verb = "would remove" if args.dry_run else "removed"
            if not args.dry_run:
                store.delete_run(run_id)
            print(f"{verb} run {run_id} ({run.input}, started {run.started_at})", file=sys.stderr)
        kept = len(runs) - len(doomed)
        print(f"{TOOL_NAME}: {len(doomed)} run(s) {'to remove' if args.dry_run else 'removed'}, {kept} kept",
              file=sys.stderr)
    finally:
        store.close()
    return ExitCode.OK
