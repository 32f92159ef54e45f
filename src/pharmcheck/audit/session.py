"""An audit session: the plain, typed logic behind `pharmcheck audit` and `export` (the CLI in
cli/audit.py only turns argv into AuditOptions). A run is started or resumed in the store,
its sites are handed to a runner (audit/runner.py, `make_runner`), each report is stored
first, then written to the output (streaming formats) and counted in the progress line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shlex
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from pharmcheck import TOOL_NAME
from pharmcheck.audit.database import open_store
from pharmcheck.audit.defaults import DEFAULT_DB, DEFAULT_FORMAT, DEFAULT_WORKERS
from pharmcheck.audit.factcache import store_facts
from pharmcheck.audit.inputs import BadLine, InputSource
from pharmcheck.audit.progress import Progress, format_duration, verdict_line
from pharmcheck.audit.runner import (
    ContextSpec,
    Runner,
    RunnerSettings,
    RunOutcome,
    SiteTask,
    default_runner_kind,
    make_runner,
)
from pharmcheck.audit.store import Store, StoreFull, is_postgres_url
from pharmcheck.check import CheckContext
from pharmcheck.errors import UsageError
from pharmcheck.models import FAIL_ON_RANK, VERDICT_RANK, AuditRun, ExitCode, FetchOptions, Report
from pharmcheck.report import RenderOptions, get_format
from pharmcheck.report.format import SiteWriter
from pharmcheck.report.output import open_output, write_output
from pharmcheck.ruleset import RuleSet
from pharmcheck.urls import authority, host_of, request_target


@dataclass(frozen=True)
class AuditOptions:
    """Everything an audit is given (the CLI's options, typed)."""

    input: str  # text file, CSV with a url column, or "-" (stdin)
    db: str = DEFAULT_DB  # SQLite file or postgresql:// URL
    format: str = DEFAULT_FORMAT  # a run format of the registry (report/format.py)
    output: str = "-"
    workers: int = DEFAULT_WORKERS
    processes: int | None = None
    runner: str | None = None  # a kind of audit/defaults.py's RUNNERS (None: local, unless a scheduler is given)
    scheduler: str | None = None  # Dask scheduler address (implies the dask runner)
    resume: int | None = None  # None: a new run; 0: the latest unfinished run over this input; N: run N
    fail_on: str | None = None  # "suspicious" | "rogue"
    since: int | None = None  # after the audit, print the changes since this run (and judge --fail-on by them)
    since_output: str | None = None  # where those changes go (None: stderr)
    since_format: str | None = None  # text | json | csv (None: from since_output's extension, else text)
    save_warc: str | None = None  # folder
    live_links: bool = False
    no_progress: bool = False
    quiet: bool = False  # -q: no progress or summary on stderr (a resume hint still shows)
    rules: str | None = None
    replay: str | None = None
    fetch: FetchOptions = field(default_factory=FetchOptions)

    @property
    def runner_kind(self) -> str:
        """The runner to use: the one asked for; else a --scheduler means a cluster (Dask's);
        else the pool or local threads/processes, as `default_runner_kind` finds best here."""
        if self.runner:
            return self.runner
        return "dask" if self.scheduler else default_runner_kind(self.workers, self.processes, self.fetch)


class StreamSink:
    """Writes each site as it finishes (jsonl, csv); whole-document formats (json, html) are
    rendered from the database at the end, so they never hold the run in memory twice."""

    def __init__(self, out: TextIO, fmt: str, criteria: list[str]) -> None:
        self.out = out
        self.format = get_format(fmt)
        self.writer: SiteWriter | None = self.format.stream(out, criteria) if self.format.streaming else None

    @property
    def streaming(self) -> bool:
        return self.writer is not None

    def write(self, report: Report) -> None:
        if self.writer is None:
            return
        self.writer.write(report)
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
        store_facts(self.store, report.facts)  # the next run asks RDAP nothing it already knows
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
    port = authority(url).rpartition(":")[2] if url.count(":") > 1 else ""
    name = host + (f"_{port}" if port.isdigit() else "")
    rest = request_target(url)[1:]
    if rest:  # two sites on one host must not share a file
        name += "-" + hashlib.sha1(url.encode()).hexdigest()[:8]
    return str(directory / f"{name.replace('[', '').replace(']', '').replace(':', '_')}.warc.gz")


def _run_arguments(opts: AuditOptions, options: FetchOptions) -> dict[str, Any]:
    return {
        "fetch": options.model_dump(mode="json"),
        "rules": opts.rules,
        "workers": opts.workers,
        "processes": opts.processes,
        "runner": opts.runner_kind,
        "replay": str(Path(opts.replay).resolve()) if opts.replay else None,
        "save_warc": str(Path(opts.save_warc).resolve()) if opts.save_warc else None,
    }


def _resume_command(opts: AuditOptions, run_id: int) -> str:
    """The command that continues this run, with every option it was given that changes what
    is fetched, how, or where the output goes (a resumed run must see the same sites the same way)."""
    parts = [TOOL_NAME, "audit", opts.input, "--db", opts.db]
    if opts.format != "jsonl":
        parts += ["--format", opts.format]
    if opts.output != "-":
        parts += ["-o", opts.output]
    given = opts.fetch.model_dump()
    for name, default in FetchOptions().model_dump().items():
        value = given[name]
        if value != default:
            flag = "--" + name.replace("_", "-")
            parts += [flag] if isinstance(value, bool) else [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    for dest, flag in (("rules", "--rules"), ("replay", "--replay"), ("save_warc", "--save-warc"),
                       ("workers", "--workers"), ("processes", "--processes"), ("fail_on", "--fail-on")):
        value = getattr(opts, dest, None)
        if value is not None and not (dest == "workers" and value == DEFAULT_WORKERS):
            parts += [flag, str(value)]
    for dest, flag in (("live_links", "--live-links"), ("no_progress", "--no-progress")):
        if getattr(opts, dest, False):
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


def run_audit(opts: AuditOptions, err: TextIO, loaded: Callable[[], None] = lambda: None) -> int:
    """Audit every site of `opts.input`; the exit code (README). `loaded` is called once the
    run's rules are loaded, before the first site (the CLI freezes what lives until exit)."""
    source = InputSource(opts.input)
    options = opts.fetch
    source.check_usable()  # before the database: a wrong file creates no run
    _check_writable(opts.output)
    if (opts.since_output or opts.since_format) and opts.since is None:
        raise UsageError("--since-output and --since-format need --since RUN")
    if opts.since_output:
        _check_writable(opts.since_output)
    store = open_store(opts.db)
    try:
        if opts.since is not None:
            store.get_run(opts.since)  # a bad RUN is a usage error before any site is audited
        run, spec, ruleset = _start_or_resume(store, source, opts, options, err)
        store.lock_run(run.id)  # a second `--resume` of this run now would fetch the same sites
        # Site facts (RDAP) cached in the store: asked once per registrable domain, across runs.
        spec = dataclasses.replace(spec, fact_db=opts.db)
        ctx = spec.build(ruleset)  # the rules are loaded once per audit, here
        loaded()
        if ctx.ruleset.version != run.tool.rules_version:
            print(f"{TOOL_NAME}: note: run {run.id} was started with rules {run.tool.rules_version}; "
                  f"continuing with rules {ctx.ruleset.version}", file=err)
        warc_dir = Path(opts.save_warc).resolve() if opts.save_warc else None  # absolute: workers may run elsewhere
        if warc_dir is not None:
            try:
                warc_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"cannot create {warc_dir}: {exc.strerror or exc}") from exc
        try:
            return _audit(store, run, source, spec, ctx, opts, warc_dir, err)
        except StoreFull as exc:
            # Every site committed before is intact (the failed one was rolled back).
            raise StoreFull(f"{exc}; {store.count_sites(run.id)} sites of run {run.id} are stored. "
                            f"Free some space, then resume with: {_resume_command(opts, run.id)}") from exc
    finally:
        store.close()


def _start_or_resume(store: Store, source: InputSource, opts: AuditOptions, options: FetchOptions,
                     err: TextIO) -> tuple[AuditRun, ContextSpec, RuleSet]:
    """The run to work on, with the options it was started with (a resumed run keeps them, so
    all its reports were made the same way), and its rules, loaded."""
    from pharmcheck.check import tool_info

    if opts.resume is None:
        ruleset = RuleSet.load(opts.rules)  # fail on bad rules before creating a run
        unfinished = store.resumable_run(source.key)
        if unfinished is not None:
            print(f"{TOOL_NAME}: note: starting a new run; run {unfinished.id} over {opts.input} is unfinished "
                  f"(add --resume to continue it instead)", file=err)
        run = store.start_run(opts.input, source.key, _run_arguments(opts, options), tool_info(ruleset),
                              source.count())
        return run, ContextSpec(options=options, rules=opts.rules, replay=opts.replay), ruleset
    if opts.resume:
        run = store.get_run(opts.resume)
        if store.input_key(run.id) != source.key:
            print(f"{TOOL_NAME}: note: run {run.id} was started on {run.input}; resuming it with {opts.input}",
                  file=err)
    else:
        found = store.resumable_run(source.key)
        if found is None:
            raise UsageError(f"no unfinished run over {opts.input} in {opts.db} (start one without --resume)")
        run = found
    stored = run.arguments
    stored_options = FetchOptions.model_validate(stored.get("fetch", {}))
    if stored_options != options:
        print(f"{TOOL_NAME}: note: resuming run {run.id} with the fetch options it was started with "
              "(the ones given now differ)", file=err)
    spec = ContextSpec(options=stored_options, rules=stored.get("rules"), replay=stored.get("replay"))
    return run, spec, RuleSet.load(spec.rules)


def _audit(store: Store, run: AuditRun, source: InputSource, spec: ContextSpec, ctx: CheckContext,
           opts: AuditOptions,
           warc_dir: Path | None, err: TextIO) -> int:
    done_before = store.done_urls(run.id)
    counts_before = store.verdict_counts(run.id)
    mode = "off" if opts.no_progress or opts.quiet else ("tty" if err.isatty() else "log")
    progress = Progress(err, mode, run.total, already_done=len(done_before), already_counts=counts_before)
    bad_lines = 0

    def tasks() -> Iterator[SiteTask]:
        nonlocal bad_lines
        unique = 0
        for item in source.read():
            if isinstance(item, BadLine):
                bad_lines += 1
                progress.clear()
                print(f"{TOOL_NAME}: {opts.input}: {item} (skipped)", file=err)
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
    with open_output(opts.output, atomic=not get_format(opts.format).streaming) as out:
        sink = StreamSink(out, opts.format, list(ctx.ruleset.scoring.criteria))
        if sink.streaming and done_before:
            # A resumed run's output holds every site of the run, each once.
            for report in store.reports(run.id):
                sink.write(report)
        recorder = AuditRecorder(store, run.id, sink, progress, err)
        with StopOnInterrupt(err, progress.clear) as stop:
            try:
                outcome = _make_runner(opts, ctx).run(tasks(), spec, recorder, stop.event)
            except KeyboardInterrupt:  # the second Ctrl-C: every commit so far is kept
                outcome = RunOutcome(completed=progress.done, stopped=True)
        if not outcome.stopped and not outcome.failed:
            store.finish_run(run.id)
            _compute_networks(store, run, spec, ctx, err)
        if not sink.streaming:
            finished = store.get_run(run.id)
            write_run(out, opts.format, finished, store, opts.live_links)
    progress.clear()
    return _finish(store, run, opts, outcome, time.monotonic() - started, bad_lines, err)


def _compute_networks(store: Store, run: AuditRun, spec: ContextSpec, ctx: CheckContext, err: TextIO) -> None:
    from pharmcheck.networks.compute import compute

    clustering = compute(store, run.id, spec.rules, ctx.ruleset.scoring, ctx.ruleset.model)  # the run's own model
    if clustering.networks:
        sizes = ", ".join(str(n.size) for n in clustering.networks[:10])
        print(f"{TOOL_NAME}: {len(clustering.networks)} network(s) of sites (sizes {sizes}); "
              f"see: {TOOL_NAME} audit networks {run.id} --db {shlex.quote(store.location)}", file=err)


def since_format(opts: AuditOptions) -> str:
    """--since-format, else what --since-output's extension says, else text."""
    if opts.since_format:
        return opts.since_format
    suffix = Path(opts.since_output).suffix.lower() if opts.since_output else ""
    return {".json": "json", ".csv": "csv"}.get(suffix, "text")


def _since(store: Store, run: AuditRun, opts: AuditOptions, err: TextIO) -> bool:
    """Write the changes since run `opts.since`; True when --fail-on's level was reached since."""
    from pharmcheck.audit.diff import RENDERERS, diff_runs

    assert opts.since is not None
    store.get_run(opts.since)
    diff = diff_runs(store, opts.since, run.id)
    rendered = RENDERERS[since_format(opts)](diff)
    if opts.since_output:
        write_output(opts.since_output, rendered)
    else:
        err.write(rendered)
    return bool(opts.fail_on and diff.appeared_at_or_above(opts.fail_on))


def _make_runner(opts: AuditOptions, ctx: CheckContext) -> Runner:
    settings = RunnerSettings(workers=opts.workers, processes=opts.processes, scheduler=opts.scheduler, ctx=ctx)
    return make_runner(opts.runner_kind, settings)


def _finish(store: Store, run: AuditRun, opts: AuditOptions, outcome: RunOutcome,
            elapsed: float, bad_lines: int, err: TextIO) -> int:
    from pharmcheck.networks.compute import network_verdict_counts

    own_counts = store.verdict_counts(run.id)
    counts = network_verdict_counts(store, run.id, own_counts)  # a rogue network's members, judged again
    stored = sum(own_counts.values())
    rate = outcome.completed / elapsed if elapsed > 0 else 0.0
    total = f" of {run.total}" if run.total is not None else ""
    lines = [
        f"{TOOL_NAME}: audit run {run.id}: {stored}{total} sites stored; {outcome.completed} audited now in "
        f"{format_duration(elapsed)} ({rate:.1f} sites/s)",
        f"  verdicts: {verdict_line(counts) or 'none'}",
    ]
    moved = sum(abs(counts[v] - own_counts[v]) for v in set(counts) | set(own_counts)) // 2
    if moved:
        lines.append(f"  {moved} verdict(s) changed by the network finding (member of a network with rogue sites; "
                     f"each site's own verdict is kept in the export's `network` block)")
    errors = store.error_counts(run.id)
    if errors:
        lines.append("  unreachable by error: " + ", ".join(f"{k} {n}" for k, n in errors.most_common()))
    if bad_lines:
        lines.append(f"  {bad_lines} bad input line(s) skipped (listed above)")
    if outcome.failed:
        lines.append(f"  {outcome.failed} site(s) failed with an internal error (listed above)")
    lines.append(f"  database: {opts.db} (run {run.id}); re-export: {TOOL_NAME} export --db "
                 f"{shlex.quote(opts.db)} --run {run.id} --format csv -o results.csv")
    if outcome.stopped or outcome.failed:
        lines.append(f"  resume with: {_resume_command(opts, run.id)}")
    if not opts.quiet or outcome.stopped or outcome.failed:  # -q: a resume hint still shows
        print("\n".join(lines), file=err)
    err.flush()
    if outcome.stopped:
        return ExitCode.INTERRUPTED
    if outcome.failed:
        return ExitCode.INTERNAL
    if opts.since is not None:
        return ExitCode.FAIL_ON if _since(store, run, opts, err) else ExitCode.OK
    if opts.fail_on and any(VERDICT_RANK[v] >= FAIL_ON_RANK[opts.fail_on] for v, n in counts.items() if n):
        return ExitCode.FAIL_ON
    return ExitCode.OK


# --- export / report ------------------------------------------------------------------


_CHANGE_ROWS = 500  # changes listed in the HTML report (the CLI's `audit diff` has them all)


def html_extras(store: Store, run: AuditRun) -> dict[str, Any]:
    """What the HTML audit report shows beyond the sites: the run's networks (computed now if
    they never were) and the changes since the previous run of the same list."""
    from pharmcheck.audit.diff import change_rows, diff_runs
    from pharmcheck.networks.compute import networks_of_run
    from pharmcheck.ruleset import load_scoring

    rules = run.arguments.get("rules")
    extras: dict[str, Any] = {"networks": networks_of_run(store, run.id, rules, load_scoring(rules))}
    previous = store.previous_run(run.id)
    if previous is not None:
        extras["changes"] = change_rows(diff_runs(store, previous.id, run.id), _CHANGE_ROWS)
    return extras


def write_run(out: TextIO, fmt: str, run: AuditRun, store: Store, live_links: bool) -> None:
    """A stored run in a run format; the HTML report also shows the run's networks and changes."""
    from pharmcheck.networks.compute import with_networks
    from pharmcheck.ruleset import load_scoring

    extras = html_extras(store, run) if fmt == "html" else {}
    reports = with_networks(store, run.id, store.reports(run.id), load_scoring(run.arguments.get("rules")))
    get_format(fmt).write_run(out, run, reports, RenderOptions(live_links, extras))


def _stored_run(db: str, run_id: int | None) -> tuple[Store, AuditRun]:
    if not is_postgres_url(db) and not Path(db).is_file():
        raise UsageError(f"database not found: {db}")
    store = open_store(db, readonly=True)  # export/report never write: read-only media work
    try:
        return store, store.get_run(run_id) if run_id else store.latest_run()
    except BaseException:
        store.close()
        raise


def export_run(db: str, run_id: int | None, fmt: str, output: str, live_links: bool, err: TextIO) -> int:
    """Write a stored run (`run_id`, default the latest) in a run format."""
    store, run = _stored_run(db, run_id)
    try:
        with open_output(output, atomic=True) as out:
            write_run(out, fmt, run, store, live_links)
        if output != "-":
            print(f"{TOOL_NAME}: run {run.id}: {store.count_sites(run.id)} sites written to {output}", file=err)
    finally:
        store.close()
    return ExitCode.OK
