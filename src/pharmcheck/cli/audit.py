"""`pharmcheck audit`, `export` and `report`: batch audits stored in a database.

The work is in audit/session.py (run_audit, export_run), which takes typed AuditOptions; this
module only turns argv into them.
"""

from __future__ import annotations

import argparse
import sys

from pharmcheck.audit.defaults import DEFAULT_DB, DEFAULT_FORMAT, DEFAULT_WORKERS, runner_kinds
from pharmcheck.cli import heap
from pharmcheck.cli.options import (
    EXIT_CODES_EPILOG,
    add_console_options,
    add_fetch_options,
    add_rules_option,
    console_setup,
    fetch_options_from_args,
    positive_int,
)
from pharmcheck.models import FAIL_ON_RANK
from pharmcheck.report import run_formats

DB_HELP = f"SQLite file (default {DEFAULT_DB}) or postgresql://USER@HOST[:PORT]/DB"


AUDIT_EPILOG = """\
examples:
  pharmcheck audit domains.txt                       JSONL on stdout, results in pharmcheck.db
  pharmcheck audit sites.csv --format csv -o out.csv a CSV with a url column works too
  cat domains.txt | pharmcheck audit - --db q3.db    or stdin
  pharmcheck audit domains.txt --resume              after a crash or Ctrl-C: only what is missing
  pharmcheck audit shops.txt --format sarif -o audit.sarif   for a code-scanning dashboard

""" + EXIT_CODES_EPILOG.replace("verdict below --fail-on", "the audit ran (any verdicts) unless --fail-on").replace(
    "verdict at or above --fail-on", "some site at or above --fail-on").replace("could not assess (unreachable)",
                                                                              "(not used by audit)")


def register(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser(
        "audit", help="audit a list of sites into a database",
        description="Check every site of a list (text file, CSV with a url column, or - for stdin) as `check` "
                    "does, store each report in SQLite as it finishes, and write them as JSONL/CSV/JSON/HTML.",
        epilog=AUDIT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    audit.add_argument("input", help="text file (one URL or domain per line), CSV with a 'url' column, or - (stdin)")
    audit.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=DB_HELP)
    audit.add_argument("--format", choices=run_formats(), default=DEFAULT_FORMAT, help="output format (default jsonl)")
    audit.add_argument("-o", "--output", default="-", metavar="FILE", help="write results to FILE ('-' = stdout)")
    audit.add_argument("--workers", type=positive_int, default=DEFAULT_WORKERS, metavar="N",
                       help=f"requests on the network at once (default {DEFAULT_WORKERS}); the pool and threads "
                            "keep half as many sites again open, worker processes and dask N sites")
    audit.add_argument("--processes", type=positive_int, default=None, metavar="N",
                       help="processes sharing the work (default: one per CPU core when --workers is at least 8: "
                            "analysis processes of the pool, worker processes of --runner local; 1 = threads in this "
                            "process only; with --runner dask and no --scheduler: the local cluster's worker processes)")
    audit.add_argument("--runner", choices=runner_kinds(), default=None,
                       help="where sites are audited (default: pool on 2-4 cores, local elsewhere or with --render or "
                            "--screenshots): local threads/processes, dask (a Dask cluster; pip install "
                            "'pharmcheck[dask]'), serial (one at a time, for debugging), pool (threads that only fetch, "
                            "--processes analysis processes)")
    audit.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler to use, e.g. tcp://HOST:8786 (implies --runner dask; without it "
                            "--runner dask starts a local cluster of --processes workers)")
    audit.add_argument("--resume", nargs="?", const=0, type=positive_int, metavar="RUN_ID",
                       help="continue the latest unfinished run over this input (or run RUN_ID), "
                            "auditing only the sites it is missing")
    audit.add_argument("--fail-on", choices=list(FAIL_ON_RANK), default=None,
                       help="exit 1 when any site's verdict is at or above this (default: never)")
    audit.add_argument("--since", type=positive_int, metavar="RUN",
                       help="after the audit, print what changed since run RUN (as `audit diff RUN NEW`); "
                            "with --fail-on, exit 1 only when a site reached that verdict since RUN")
    audit.add_argument("--since-output", metavar="FILE",
                       help="with --since: write the changes to FILE (default: stderr, as text; the report is on stdout)")
    audit.add_argument("--since-format", choices=["text", "json", "csv"], default=None,
                       help="with --since: format of the changes (default: from --since-output's extension, else text)")
    audit.add_argument("--save-warc", metavar="DIR", help="record each site's exchanges to DIR/<host>.warc.gz")
    audit.add_argument("--live-links", action="store_true", help="HTML output: clickable links instead of defanged")
    audit.add_argument("--no-progress", action="store_true", help="no progress on stderr (summary only)")
    add_rules_option(audit)
    add_fetch_options(audit)
    add_console_options(audit)
    # An audit closes its output and its store, and may leave sites in flight on daemon
    # threads when interrupted: it ends without Python's teardown (cli/heap.py).
    audit.set_defaults(func=cmd_audit, end_without_teardown=True)

    export = sub.add_parser("export", help="write a stored audit run as JSONL/CSV/JSON/HTML",
                            description="Re-export a run stored by `pharmcheck audit`.")
    export.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=DB_HELP)
    export.add_argument("--run", type=positive_int, metavar="ID", help="run id (default: the latest run)")
    export.add_argument("--format", choices=run_formats(), default=DEFAULT_FORMAT, help="output format (default jsonl)")
    export.add_argument("-o", "--output", default="-", metavar="FILE", help="write to FILE ('-' = stdout)")
    export.add_argument("--live-links", action="store_true", help="HTML: clickable links instead of defanged ones")
    export.set_defaults(func=cmd_export)

    report = sub.add_parser("report", help="HTML report of a stored audit run",
                            description="Render a run stored by `pharmcheck audit` as one HTML page.")
    report.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=DB_HELP)
    report.add_argument("--run", type=positive_int, metavar="ID", help="run id (default: the latest run)")
    report.add_argument("-o", "--output", default="-", metavar="FILE", help="write to FILE ('-' = stdout)")
    report.add_argument("--live-links", action="store_true", help="clickable links instead of defanged ones")
    report.set_defaults(func=cmd_report, format="html")


def cmd_audit(args: argparse.Namespace) -> int:
    # The audit machinery (runner, store, checker) is imported by the command that runs it,
    # not by every start of the program.
    from pharmcheck.audit.session import AuditOptions, run_audit

    console_setup(args)
    opts = AuditOptions(
        input=args.input,
        db=args.db,
        format=args.format,
        output=args.output,
        workers=args.workers,
        processes=args.processes,
        runner=args.runner,
        scheduler=args.scheduler,
        resume=args.resume,
        fail_on=args.fail_on,
        since=args.since,
        since_output=args.since_output,
        since_format=args.since_format,
        save_warc=args.save_warc,
        live_links=args.live_links,
        no_progress=args.no_progress,
        quiet=args.quiet,
        rules=args.rules,
        replay=args.replay,
        fetch=fetch_options_from_args(args),
    )
    # The rules (~10^5 objects) live until the end: out of the collector's sight before the
    # audit starts, so that neither this process nor the analysis processes forked from it
    # scan them again at every full collection (~0.1 s a process per 200 sites), and a
    # collection in a child does not write to the memory it shares with its parent.
    return run_audit(opts, sys.stderr, loaded=heap.keep_for_good)


def cmd_export(args: argparse.Namespace) -> int:
    from pharmcheck.audit.session import export_run

    return export_run(args.db, args.run, args.format, args.output, args.live_links, sys.stderr)


def cmd_report(args: argparse.Namespace) -> int:
    return cmd_export(args)
