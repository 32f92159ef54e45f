"""`pharmcheck audit`, `export` and `report`: batch audits stored in SQLite.

Registered into `pharmcheck.cli.EXTRA_COMMANDS` on import. The work is in `runner`
(scheduling), `store` (the database) and `inputs` (the list); this module wires them to
argv, the output file, stderr (progress, summary) and Ctrl-C.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from pharmcheck import TOOL_NAME, cli
from pharmcheck.audit.inputs import BadLine, InputSource
from pharmcheck.audit.progress import Progress, format_duration, verdict_line
from pharmcheck.audit.runner import ContextSpec, Runner, RunOutcome, SiteTask, make_runner
from pharmcheck.audit.store import Store, is_postgres_url, open_store
from pharmcheck.check import CheckContext
from pharmcheck.errors import UsageError
from pharmcheck.models import AuditRun, ExitCode, FetchOptions, Report, Verdict
from pharmcheck.urls import host_of

FORMATS = ["jsonl", "csv", "json", "html", "markdown", "sarif"]
# Written whole from the database at the end of a run (the others stream, one site a line).
DOCUMENT_FORMATS = ("json", "html", "markdown", "sarif")
DEFAULT_DB = "pharmcheck.db"
DEFAULT_WORKERS = 32
DB_HELP = f"SQLite file (default {DEFAULT_DB}) or postgresql://USER@HOST[:PORT]/DB"
_RANK = {"suspicious": 1, "rogue": 2}
_VERDICT_RANK = {Verdict.legitimate.value: 0, Verdict.not_pharmacy.value: 0, Verdict.unreachable.value: 0,
                 Verdict.suspicious.value: 1, Verdict.rogue.value: 2}


AUDIT_EPILOG = """\
examples:
  pharmcheck audit domains.txt                       JSONL on stdout, results in pharmcheck.db
  pharmcheck audit sites.csv --format csv -o out.csv a CSV with a url column works too
  cat domains.txt | pharmcheck audit - --db q3.db    or stdin
  pharmcheck audit domains.txt --resume              after a crash or Ctrl-C: only what is missing
  pharmcheck audit shops.txt --format sarif -o audit.sarif   for a code-scanning dashboard

""" + cli.EXIT_CODES_EPILOG.replace("verdict below --fail-on", "the audit ran (any verdicts) unless --fail-on").replace(
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
    audit.add_argument("--format", choices=FORMATS, default="jsonl", help="output format (default jsonl)")
    audit.add_argument("-o", "--output", default="-", metavar="FILE", help="write results to FILE ('-' = stdout)")
    audit.add_argument("--workers", type=cli._positive_int, default=DEFAULT_WORKERS, metavar="N",
                       help=f"sites audited at once (default {DEFAULT_WORKERS})")
    audit.add_argument("--processes", type=cli._positive_int, default=None, metavar="N",
                       help="worker processes sharing the workers (default: one per CPU core when --workers "
                            "is at least 8; 1 = threads in this process only; with --runner dask and no --scheduler: "
                            "the local cluster's worker processes)")
    audit.add_argument("--runner", choices=["local", "dask"], default=None,
                       help="where sites are audited: local threads/processes (default), or a Dask cluster "
                            "(pip install 'pharmcheck[dask]')")
    audit.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler to use, e.g. tcp://HOST:8786 (implies --runner dask; without it "
                            "--runner dask starts a local cluster of --processes workers)")
    audit.add_argument("--resume", nargs="?", const=0, type=cli._positive_int, metavar="RUN_ID",
                       help="continue the latest unfinished run over this input (or run RUN_ID), "
                            "auditing only the sites it is missing")
    audit.add_argument("--fail-on", choices=list(_RANK), default=None,
                       help="exit 1 when any site's verdict is at or above this (default: never)")
    audit.add_argument("--since", type=cli._positive_int, metavar="RUN",
                       help="after the audit, print what changed since run RUN (as `audit diff RUN NEW`); "
                            "with --fail-on, exit 1 only when a site reached that verdict since RUN")
    audit.add_argument("--save-warc", metavar="DIR", help="record each site's exchanges to DIR/<host>.warc.gz")
    audit.add_argument("--live-links", action="store_true", help="HTML output: clickable links instead of defanged")
    audit.add_argument("--no-progress", action="store_true", help="no progress on stderr (summary only)")
    cli.add_rules_option(audit)
    cli.add_fetch_options(audit)
    cli.add_console_options(audit)
    audit.set_defaults(func=cmd_audit)

    export = sub.add_parser("export", help="write a stored audit run as JSONL/CSV/JSON/HTML",
                            description="Re-export a run stored by `pharmcheck audit`.")
    export.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=DB_HELP)
    export.add_argument("--run", type=cli._positive_int, metavar="ID", help="run id (default: the latest run)")
    export.add_argument("--format", choices=FORMATS, default="jsonl", help="output format (default jsonl)")
    export.add_argument("-o", "--output", default="-", metavar="FILE", help="write to FILE ('-' = stdout)")
    export.add_argument("--live-links", action="store_true", help="HTML: clickable links instead of defanged ones")
    export.set_defaults(func=cmd_export)

    report = sub.add_parser("report", help="HTML report of a stored audit run",
                            description="Render a run stored by `pharmcheck audit` as one HTML page.")
    report.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=DB_HELP)
    report.add_argument("--run", type=cli._positive_int, metavar="ID", help="run id (default: the latest run)")
    report.add_argument("-o", "--output", default="-", metavar="FILE", help="write to FILE ('-' = stdout)")
    report.add_argument("--live-links", action="store_true", help="clickable links instead of defanged ones")
    report.set_defaults(func=cmd_report, format="html")


cli.EXTRA_COMMANDS.append(register)


# --- output ---------------------------------------------------------------------------


@contextmanager
def open_output(path: str, atomic: bool) -> Iterator[TextIO]:
    """stdout for '-'; otherwise the file, written in place (streamed results survive a
    crash) or, when `atomic`, renamed into place only once complete."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp") if atomic else target
    try:
        fh = open(tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        yield fh
    except BaseException:
        fh.close()
        if atomic:
            tmp.unlink(missing_ok=True)
        raise
    fh.close()
    if atomic:
        os.replace(tmp, target)


def write_document(out: TextIO, fmt: str, run: AuditRun, reports: Iterable[Report], live_links: bool,
                   store: Store | None = None) -> None:
    """A whole run in one of the formats, reports consumed one at a time where the format allows.
    With the `store`, the HTML report also shows the run's networks and its changes."""
    if fmt == "jsonl":
        from pharmcheck.report.tabular import jsonl_line

        for report in reports:
            out.write(jsonl_line(report))
    elif fmt == "csv":
        from pharmcheck.report.tabular import render_csv

        for line in render_csv(reports):
            out.write(line)
    elif fmt == "json":
        from pharmcheck.report.tabular import json_document

        out.writelines(json_document(run, reports))
    elif fmt == "markdown":
        from pharmcheck.report.markdown import render_markdown_audit

        out.write(render_markdown_audit(run, reports, live_links))
    elif fmt == "sarif":
        from pharmcheck.report.sarif import render_sarif

        out.write(render_sarif(reports))
    elif fmt == "html":
        from pharmcheck.audit.analysis_cli import html_extras
        from pharmcheck.report.html import render_audit_html

        out.write(render_audit_html(run, reports, live_links, **(html_extras(store, run) if store else {})))
    else:  # pragma: no cover - argparse restricts the choices
        raise UsageError(f"unknown format {fmt!r}")


class StreamSink:
    """Writes each site as it finishes (jsonl, csv); whole-document formats (json, html) are
    rendered from the database at the end, so they never hold the run in memory twice."""

    def __init__(self, out: TextIO, fmt: str, criteria: list[str]) -> None:
        from pharmcheck.report.tabular import CsvFormatter

        self.out = out
        self.fmt = fmt
        self.csv = CsvFormatter(criteria) if fmt == "csv" else None
        if self.csv is not None:
            out.write(self.csv.header())

    @property
    def streaming(self) -> bool:
        return self.fmt in ("jsonl", "csv")

    def write(self, report: Report) -> None:
        if self.fmt == "jsonl":
            self.out.write(report.model_dump_json() + "\n")
        elif self.csv is not None:
            self.out.write(self.csv.row(report))
        else:
            return
        self.out.flush()  # a consumer (`| jq`, tail -f) sees each site as it finishes


# --- audit ----------------------------------------------------------------------------


class AuditRecorder:
    """The runner's observer: database first (committed per site), then output and progress."""

    def __init__(self, store: Store, run_id: int, sink: StreamSink, progress: Progress, err: TextIO) -> None:
        self.store = store
        self.run_id = run_id
        self.sink = sink
        self.progress = progress
        self.err = err
        self.failed: list[str] = []

    def site_started(self, task: SiteTask) -> None:
        pass

    def site_done(self, task: SiteTask, report: Report) -> None:
        self.store.add_site(self.run_id, task.position, report)
        self.sink.write(report)
        self.progress.site_done(report.verdict.value)

    def site_failed(self, task: SiteTask, error: BaseException) -> None:
        self.failed.append(task.url)
        self.progress.clear()
        print(f"{TOOL_NAME}: internal error auditing {task.url}: {type(error).__name__}: {error} "
              "(not stored; --resume retries it; please report it)", file=self.err)


class StopOnInterrupt:
    """First Ctrl-C: stop taking new sites (finished ones are kept). Second: quit at once."""

    def __init__(self, err: TextIO, before_message: Callable[[], None]) -> None:
        self.event = threading.Event()
        self.err = err
        self.before_message = before_message
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        self.before_message()
        self.err.write(f"{TOOL_NAME}: interrupted: no new sites; saving what is done (Ctrl-C again to quit now)\n")
        self.err.flush()


def _warc_path(directory: Path, url: str) -> str:
    host = host_of(url)
    port = url.split("://", 1)[1].split("/", 1)[0].rpartition(":")[2] if url.count(":") > 1 else ""
    name = host + (f"_{port}" if port.isdigit() else "")
    rest = url.split("://", 1)[1].split("/", 1)[1] if "/" in url.split("://", 1)[1] else ""
    if rest:  # two sites on one host must not share a file
        name += "-" + hashlib.sha1(url.encode()).hexdigest()[:8]
    return str(directory / f"{name.replace('[', '').replace(']', '').replace(':', '_')}.warc.gz")


def _run_arguments(args: argparse.Namespace, options: FetchOptions) -> dict[str, Any]:
    return {
        "fetch": options.model_dump(mode="json"),
        "rules": args.rules,
        "workers": args.workers,
        "processes": args.processes,
        "runner": "dask" if args.runner == "dask" or args.scheduler else "local",
        "replay": str(Path(args.replay).resolve()) if args.replay else None,
        "save_warc": str(Path(args.save_warc).resolve()) if args.save_warc else None,
    }


def _resume_command(args: argparse.Namespace, run_id: int) -> str:
    """The command that continues this run, with every option it was given that changes what
    is fetched, how, or where the output goes (a resumed run must see the same sites the same way)."""
    parts = [TOOL_NAME, "audit", args.input, "--db", args.db]
    if args.format != "jsonl":
        parts += ["--format", args.format]
    if args.output != "-":
        parts += ["-o", args.output]
    given = cli.fetch_options_from_args(args).model_dump()
    for name, default in FetchOptions().model_dump().items():
        value = given[name]
        if value != default:
            flag = "--" + name.replace("_", "-")
            parts += [flag] if isinstance(value, bool) else [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    for dest, flag in (("rules", "--rules"), ("replay", "--replay"), ("save_warc", "--save-warc"),
                       ("workers", "--workers"), ("processes", "--processes"), ("fail_on", "--fail-on")):
        value = getattr(args, dest, None)
        if value is not None and not (dest == "workers" and value == DEFAULT_WORKERS):
            parts += [flag, str(value)]
    for dest, flag in (("live_links", "--live-links"), ("no_progress", "--no-progress")):
        if getattr(args, dest, False):
            parts.append(flag)
    parts += ["--resume", str(run_id)]
    return " ".join(shlex.quote(p) for p in parts)


def _check_writable(path: str) -> None:
    """UsageError now, for an output file that cannot be written, rather than after a run was
    created (an empty run that `--resume` would then pick up)."""
    if path == "-":
        return
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder")
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: no folder {folder}")
    try:
        if target.exists():
            with open(target, "a", encoding="utf-8"):
                pass  # opened for appending, not truncated: a resumed run rewrites it later
        else:
            # A real file in that folder, removed at once: permissions, read-only mounts, quotas.
            with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{target.name}.", suffix=".probe"):
                pass
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def cmd_audit(args: argparse.Namespace) -> int:
    err = sys.stderr
    cli.console_setup(args)
    source = InputSource(args.input)
    options = cli.fetch_options_from_args(args)
    source.check_usable()  # before the database: a wrong file creates no run
    _check_writable(args.output)
    store = open_store(args.db)
    try:
        if args.since is not None:
            store.get_run(args.since)  # a bad RUN is a usage error before any site is audited
        run, spec = _start_or_resume(store, source, args, options, err)
        ctx = spec.build()
        if ctx.ruleset.version != run.tool.rules_version:
            print(f"{TOOL_NAME}: note: run {run.id} was started with rules {run.tool.rules_version}; "
                  f"continuing with rules {ctx.ruleset.version}", file=err)
        warc_dir = Path(args.save_warc).resolve() if args.save_warc else None  # absolute: workers may run elsewhere
        if warc_dir is not None:
            try:
                warc_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"cannot create {warc_dir}: {exc.strerror or exc}") from exc
        return _audit(store, run, source, spec, ctx, args, warc_dir, err)
    finally:
        store.close()


def _start_or_resume(store: Store, source: InputSource, args: argparse.Namespace, options: FetchOptions,
                     err: TextIO) -> tuple[AuditRun, ContextSpec]:
    """The run to work on, with the options it was started with (a resumed run keeps them, so
    all its reports were made the same way)."""
    from pharmcheck.check import tool_info

    if args.resume is None:
        ruleset = cli.load_ruleset(args)  # fail on bad rules before creating a run
        unfinished = store.resumable_run(source.key)
        if unfinished is not None:
            print(f"{TOOL_NAME}: note: starting a new run; run {unfinished.id} over {args.input} is unfinished "
                  f"(add --resume to continue it instead)", file=err)
        run = store.start_run(args.input, source.key, _run_arguments(args, options), tool_info(ruleset),
                              source.count())
        return run, ContextSpec(options=options, rules=args.rules, replay=args.replay)
    if args.resume:
        run = store.get_run(args.resume)
        if store.input_key(run.id) != source.key:
            print(f"{TOOL_NAME}: note: run {run.id} was started on {run.input}; resuming it with {args.input}",
                  file=err)
    else:
        found = store.resumable_run(source.key)
        if found is None:
            raise UsageError(f"no unfinished run over {args.input} in {args.db} (start one without --resume)")
        run = found
    stored = run.arguments
    stored_options = FetchOptions.model_validate(stored.get("fetch", {}))
    if stored_options != options:
        print(f"{TOOL_NAME}: note: resuming run {run.id} with the fetch options it was started with "
              "(the ones given now differ)", file=err)
    return run, ContextSpec(options=stored_options, rules=stored.get("rules"), replay=stored.get("replay"))


def _audit(store: Store, run: AuditRun, source: InputSource, spec: ContextSpec, ctx: CheckContext,
           args: argparse.Namespace,
           warc_dir: Path | None, err: TextIO) -> int:
    done_before = store.done_urls(run.id)
    counts_before = store.verdict_counts(run.id)
    mode = "off" if args.no_progress or args.quiet else ("tty" if err.isatty() else "log")
    progress = Progress(err, mode, run.total, already_done=len(done_before), already_counts=counts_before)
    bad_lines = 0

    def tasks() -> Iterator[SiteTask]:
        nonlocal bad_lines
        unique = 0
        for item in source.read():
            if isinstance(item, BadLine):
                bad_lines += 1
                progress.clear()
                print(f"{TOOL_NAME}: {args.input}: {item} (skipped)", file=err)
                continue
            unique += 1
            if item.url in done_before:
                continue
            warc = _warc_path(warc_dir, item.url) if warc_dir is not None else None
            yield SiteTask(url=item.url, position=item.position, save_warc=warc)
        if run.total is None:
            run.total = unique
            progress.total = unique
            store.set_total(run.id, unique)

    started = time.monotonic()
    atomic = args.format in DOCUMENT_FORMATS
    with open_output(args.output, atomic=atomic) as out:
        sink = StreamSink(out, args.format, list(ctx.ruleset.scoring.criteria))
        if sink.streaming and done_before:
            # A resumed run's output holds every site of the run, each once.
            for report in store.reports(run.id):
                sink.write(report)
        recorder = AuditRecorder(store, run.id, sink, progress, err)
        with StopOnInterrupt(err, progress.clear) as stop:
            try:
                outcome = _make_runner(args, ctx).run(tasks(), spec, recorder, stop.event)
            except KeyboardInterrupt:  # the second Ctrl-C: every commit so far is kept
                outcome = RunOutcome(completed=progress.done, stopped=True)
        if not outcome.stopped and not outcome.failed:
            store.finish_run(run.id)
            _compute_networks(store, run, spec, ctx, err)
        if not sink.streaming:
            finished = store.get_run(run.id)
            write_document(out, args.format, finished, store.reports(run.id), args.live_links, store)
    progress.clear()
    return _finish(store, run, args, outcome, time.monotonic() - started, bad_lines, err)


def _compute_networks(store: Store, run: AuditRun, spec: ContextSpec, ctx: CheckContext, err: TextIO) -> None:
    from pharmcheck.networks.compute import compute

    clustering = compute(store, run.id, spec.rules, ctx.ruleset.scoring)
    if clustering.networks:
        sizes = ", ".join(str(n.size) for n in clustering.networks[:10])
        print(f"{TOOL_NAME}: {len(clustering.networks)} network(s) of sites (sizes {sizes}); "
              f"see: {TOOL_NAME} audit networks {run.id} --db {shlex.quote(store.location)}", file=err)


def _since(store: Store, run: AuditRun, args: argparse.Namespace, err: TextIO) -> bool:
    """Print the changes since run `args.since`; True when --fail-on's level was reached since."""
    from pharmcheck.audit.diff import diff_runs, render_text

    store.get_run(args.since)
    diff = diff_runs(store, args.since, run.id)
    err.write(render_text(diff))
    return bool(args.fail_on and diff.appeared_at_or_above(args.fail_on))


def _make_runner(args: argparse.Namespace, ctx: CheckContext) -> Runner:
    if args.runner == "dask" or args.scheduler:
        from pharmcheck.audit.dask_runner import DaskRunner

        return DaskRunner(args.workers, scheduler=args.scheduler, local_workers=args.processes, ctx=ctx)
    return make_runner(args.workers, args.processes, ctx)


def _finish(store: Store, run: AuditRun, args: argparse.Namespace, outcome: RunOutcome,
            elapsed: float, bad_lines: int, err: TextIO) -> int:
    counts = store.verdict_counts(run.id)
    stored = sum(counts.values())
    rate = outcome.completed / elapsed if elapsed > 0 else 0.0
    total = f" of {run.total}" if run.total is not None else ""
    lines = [
        f"{TOOL_NAME}: audit run {run.id}: {stored}{total} sites stored; {outcome.completed} audited now in "
        f"{format_duration(elapsed)} ({rate:.1f} sites/s)",
        f"  verdicts: {verdict_line(counts) or 'none'}",
    ]
    errors = store.error_counts(run.id)
    if errors:
        lines.append("  unreachable by error: " + ", ".join(f"{k} {n}" for k, n in errors.most_common()))
    if bad_lines:
        lines.append(f"  {bad_lines} bad input line(s) skipped (listed above)")
    if outcome.failed:
        lines.append(f"  {outcome.failed} site(s) failed with an internal error (listed above)")
    lines.append(f"  database: {args.db} (run {run.id}); re-export: {TOOL_NAME} export --db "
                 f"{shlex.quote(args.db)} --run {run.id} --format csv -o results.csv")
    if outcome.stopped or outcome.failed:
        lines.append(f"  resume with: {_resume_command(args, run.id)}")
    if not args.quiet or outcome.stopped or outcome.failed:  # -q: a resume hint still shows
        print("\n".join(lines), file=err)
    err.flush()
    if outcome.stopped:
        return ExitCode.INTERRUPTED
    if outcome.failed:
        return ExitCode.INTERNAL
    if args.since is not None:
        return ExitCode.FAIL_ON if _since(store, run, args, err) else ExitCode.OK
    if args.fail_on and any(_VERDICT_RANK[v] >= _RANK[args.fail_on] for v, n in counts.items() if n):
        return ExitCode.FAIL_ON
    return ExitCode.OK


# --- export / report ------------------------------------------------------------------


def _stored_run(args: argparse.Namespace) -> tuple[Store, AuditRun]:
    if not is_postgres_url(args.db) and not Path(args.db).is_file():
        raise UsageError(f"database not found: {args.db}")
    store = open_store(args.db)
    try:
        return store, store.get_run(args.run) if args.run else store.latest_run()
    except BaseException:
        store.close()
        raise


def cmd_export(args: argparse.Namespace) -> int:
    store, run = _stored_run(args)
    try:
        with open_output(args.output, atomic=True) as out:
            write_document(out, args.format, run, store.reports(run.id), args.live_links, store)
        if args.output != "-":
            print(f"{TOOL_NAME}: run {run.id}: {store.count_sites(run.id)} sites written to {args.output}",
                  file=sys.stderr)
    finally:
        store.close()
    return ExitCode.OK


def cmd_report(args: argparse.Namespace) -> int:
    return cmd_export(args)
