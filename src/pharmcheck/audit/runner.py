"""Scheduling of an audit, kept behind a small interface.

"Audit one site" is `audit_site(task, ctx)`: a pure function of (URL, options, rules) that
calls `check.check_site`, exactly as `pharmcheck check` does. A `Runner` decides where and
when it runs and streams each result to an `AuditObserver` as it finishes (as sslyze's
scanner does), always on the caller's thread, so the observer (database, output file,
progress line) needs no locking. `ThreadRunner` runs sites on threads in this process;
a distributed runner (Dask) only has to implement `Runner.run` the same way.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import multiprocessing
import os
import queue
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pharmcheck.audit.children import child_of_the_audit
from pharmcheck.audit.defaults import RUNNERS
from pharmcheck.check import CheckContext, check_site
from pharmcheck.models import FetchOptions, Report
from pharmcheck.ruleset import RuleSet
from pharmcheck.urls import host_of, registrable_domain

if TYPE_CHECKING:  # imported where a pool is made: a run without one never loads it
    from pharmcheck.audit.analysis import AnalysisPool


@dataclass(frozen=True)
class ContextSpec:
    """What a worker needs to build the `CheckContext` of a run: small and picklable, so a
    worker process (or a remote machine) can rebuild the same context."""

    options: FetchOptions
    rules: str | None = None  # rules directory; None = the default rules
    replay: str | None = None  # WARC file or folder to answer from
    fact_db: str | None = None  # audit store whose cached site facts (RDAP) the context starts with

    def build(self, ruleset: RuleSet | None = None) -> CheckContext:
        """The context, with `ruleset` when the caller loaded it already (from `self.rules`):
        a run loads its rules once in the parent; a worker process calls this once."""
        from pharmcheck.facts import MemoryFactCache
        from pharmcheck.fetch import ArchiveIndex, HostLimiter

        fact_cache = MemoryFactCache()
        if self.fact_db is not None and not self.replay:
            from pharmcheck.audit.database import open_store
            from pharmcheck.audit.factcache import load_fact_cache
            from pharmcheck.errors import PharmcheckError

            try:
                store = open_store(self.fact_db, migrate=False, readonly=True)
            except (PharmcheckError, OSError):
                # A worker on another machine may not reach the run's SQLite file: it starts
                # with an empty cache (asking once per domain it audits), it does not fail.
                store = None
            if store is not None:
                try:
                    fact_cache = load_fact_cache(store)
                finally:
                    store.close()
        return CheckContext(
            ruleset=ruleset if ruleset is not None else RuleSet.load(self.rules),
            options=self.options,
            archive=ArchiveIndex(self.replay) if self.replay else None,
            # One limiter for every site the context serves: the per-host cap holds across sites.
            limiter=HostLimiter(self.options.per_host),
            fact_cache=fact_cache,
        )


@dataclass(frozen=True)
class SiteTask:
    url: str
    position: int  # place in the input, kept so exports follow the input order
    save_warc: str | None = None  # where to record this site's exchanges, if wanted


def audit_site(task: SiteTask, ctx: CheckContext) -> Report:
    """Audit one site: the same code path, and so the same report, as `pharmcheck check`."""
    return check_site(task.url, ctx, save_warc=task.save_warc)


class AuditObserver(Protocol):
    def site_started(self, task: SiteTask) -> None: ...

    def site_done(self, task: SiteTask, report: Report) -> None: ...

    def site_failed(self, task: SiteTask, error: BaseException) -> None:
        """A bug in pharmcheck while auditing this site (a site's own misbehaviour never
        raises: it is in the report). The site is not stored, so `--resume` retries it."""


@dataclass
class RunOutcome:
    completed: int = 0
    failed: int = 0
    abandoned: int = 0  # in flight when the run was stopped; audited again on resume
    stopped: bool = False

    def deliver(self, observer: AuditObserver, task: SiteTask, report: Report | None,
                error: BaseException | None) -> None:
        """Count a finished site and hand it to the observer (every runner, on the caller's thread)."""
        if report is not None:
            self.completed += 1
            observer.site_done(task, report)
        else:
            assert error is not None
            self.failed += 1
            observer.site_failed(task, error)


class Runner(Protocol):
    def run(self, tasks: Iterable[SiteTask], spec: ContextSpec, observer: AuditObserver,
            stop: threading.Event) -> RunOutcome:
        """Audit every task, calling the observer on the caller's thread as sites finish.

        `tasks` is consumed lazily (at most a few more than are in flight are taken), so
        memory does not grow with the list. When `stop` is set, no new task is started; the
        results already finished are still delivered, and sites in flight are abandoned."""
        ...


_POLL = 0.1  # how often the caller's thread looks at `stop` while waiting for results


def open_sites(workers: int) -> int:
    """Sites a thread runner keeps open for `workers` network slots: enough that while some
    sites wait on the analysis of a page (or on a busy host), others have a request ready
    for each slot freed. Each open site holds its pages in flight (~0.84 MB for 5 pages)."""
    return workers + -(-workers // 2)  # measured: README, "How many workers"


class ThreadRunner:
    """Sites audited on daemon threads (daemon: an interrupted run must not wait for a slow
    site's deadline before the process can exit), with at most `workers` requests on the
    network at once: `open_sites(workers)` sites are open, so a slot left by a site whose
    page is being analysed goes to another site's request (the slots are the HostLimiter's;
    a site's wait for one does not count against its deadline). Replayed or browser audits
    keep `workers` sites open and no slots (nothing to overlap, or a browser's own requests).

    With `analysis_processes`, the threads only fetch: pages are extracted and sites judged
    in that many processes (audit/analysis.py), unless the browser reads the pages
    (--render, --screenshots)."""

    def __init__(self, workers: int, ctx: CheckContext | None = None, analysis_processes: int = 0) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.ctx = ctx  # already built by the caller, or built from the spec in run()
        self.analysis_processes = analysis_processes
        self.sites_open = workers  # set by run(): open_sites(workers) when slots apply

    def run(self, tasks: Iterable[SiteTask], spec: ContextSpec, observer: AuditObserver,
            stop: threading.Event) -> RunOutcome:
        ctx = self.ctx or spec.build()
        self.sites_open = self.workers
        if ctx.archive is None and not ctx.options.uses_browser:
            from pharmcheck.fetch import HostLimiter

            # Slots on a limiter of this run's own, which the caller's context does not share.
            ctx = dataclasses.replace(ctx, limiter=HostLimiter(ctx.options.per_host, network_slots=self.workers))
            self.sites_open = open_sites(self.workers)
        pool = None
        if self.analysis_processes and not ctx.options.uses_browser:
            from pharmcheck.audit.analysis import AnalysisPool

            pool = AnalysisPool(self.analysis_processes, ctx.ruleset, spec.rules)  # before any thread starts
            ctx = dataclasses.replace(ctx, analyst=pool)
        try:
            return self._run(tasks, ctx, observer, stop, pool)
        finally:
            if pool is not None:
                pool.close()

    def _run(self, tasks: Iterable[SiteTask], ctx: CheckContext, observer: AuditObserver,
             stop: threading.Event, pool: AnalysisPool | None) -> RunOutcome:
        todo: queue.SimpleQueue[SiteTask | None] = queue.SimpleQueue()
        done: queue.SimpleQueue[tuple[SiteTask, Report | None, BaseException | None]] = queue.SimpleQueue()
        threads = [
            threading.Thread(target=_worker, args=(todo, done, ctx), name=f"audit-{i}", daemon=True)
            for i in range(self.sites_open)
        ]
        for thread in threads:
            thread.start()
        outcome = RunOutcome()
        source: Iterator[SiteTask] = iter(tasks)
        in_flight = 0
        exhausted = False
        try:
            while True:
                while not exhausted and not stop.is_set() and in_flight < self.sites_open:
                    task = next(source, None)
                    if task is None:
                        exhausted = True
                        break
                    observer.site_started(task)
                    todo.put(task)
                    in_flight += 1
                if in_flight == 0 or stop.is_set():
                    break
                try:
                    task, report, error = done.get(timeout=_POLL)
                except queue.Empty:
                    continue
                in_flight -= 1
                outcome.deliver(observer, task, report, error)
                if pool is not None and pool.dead:
                    from pharmcheck.audit.analysis import AnalysisPoolDied

                    raise AnalysisPoolDied("analysis processes keep dying; see the messages above")
            # Stopped: hand over what already finished, give up the rest.
            while in_flight:
                try:
                    task, report, error = done.get_nowait()
                except queue.Empty:
                    break
                in_flight -= 1
                outcome.deliver(observer, task, report, error)
            outcome.abandoned = in_flight
            outcome.stopped = stop.is_set()
        finally:
            for _ in threads:
                todo.put(None)  # idle workers exit; busy ones die with the process
        return outcome


def _worker(todo: queue.SimpleQueue[SiteTask | None],
            done: queue.SimpleQueue[tuple[SiteTask, Report | None, BaseException | None]],
            ctx: CheckContext) -> None:
    while True:
        task = todo.get()
        if task is None:
            return
        try:
            done.put((task, audit_site(task, ctx), None))
        except Exception as exc:
            done.put((task, None, exc))


# --- several processes ------------------------------------------------------------------

_RESTARTS = 3  # a worker process that keeps dying is a bug, not bad luck


class _Shard:
    """One worker process, its own task queue, and the sites handed to it."""

    def __init__(self, index: int, mp_context: Any, spec: ContextSpec, threads: int,
                 results: Any, ruleset: RuleSet | None = None) -> None:
        self.index = index
        self.threads = threads
        self.queue = mp_context.Queue()
        self.in_flight: dict[str, SiteTask] = {}
        self.waiting: deque[SiteTask] = deque()
        self.process = mp_context.Process(
            target=_process_main, args=(index, spec, threads, self.queue, results, os.getpid(), ruleset),
            name=f"pharmcheck-audit-{index}", daemon=True)
        self.process.start()


class ProcessRunner:
    """Sites spread over `processes` worker processes, each running threads, `workers` sites in
    flight in all. Analysis (parsing, rules) is CPU work under the GIL: one process can use
    one core only, so on a multi-core machine the network, not the CPU, stays the limit.

    A site goes to the process chosen by its registrable domain, so the per-host connection
    cap (a `HostLimiter` per process) still holds across the sites of one domain. Reports come
    back as JSON and the observer runs in this process, on the caller's thread.

    `ruleset`, the run's rules already loaded by the caller, is inherited by forked worker
    processes instead of being loaded again in each (half a second of CPU per process); with
    another start method (spawn) each process loads the spec's rules itself."""

    def __init__(self, workers: int, processes: int, ruleset: RuleSet | None = None) -> None:
        if workers < 1 or processes < 1:
            raise ValueError("workers and processes must be at least 1")
        self.workers = workers
        self.processes = min(processes, workers)
        self.ruleset = ruleset

    def run(self, tasks: Iterable[SiteTask], spec: ContextSpec, observer: AuditObserver,
            stop: threading.Event) -> RunOutcome:
        mp_context = multiprocessing.get_context()
        results = mp_context.Queue()
        per_process = -(-self.workers // self.processes)
        # Handed over only to forked children: their memory is a copy of ours, nothing is pickled.
        inherited = self.ruleset if mp_context.get_start_method() == "fork" else None
        shards = [_Shard(i, mp_context, spec, per_process, results, inherited) for i in range(self.processes)]
        restarts = 0
        outcome = RunOutcome()
        source: Iterator[SiteTask] = iter(tasks)
        exhausted = False
        buffered = 0
        try:
            while True:
                # Take tasks lazily: at most `workers` waiting on top of those in flight.
                while not exhausted and not stop.is_set() and buffered < self.workers:
                    task = next(source, None)
                    if task is None:
                        exhausted = True
                        break
                    shards[_shard_of(task.url, len(shards))].waiting.append(task)
                    buffered += 1
                for shard in shards:
                    while shard.waiting and len(shard.in_flight) < shard.threads and not stop.is_set():
                        task = shard.waiting.popleft()
                        buffered -= 1
                        observer.site_started(task)
                        shard.in_flight[task.url] = task
                        shard.queue.put(task)
                in_flight = sum(len(s.in_flight) for s in shards)
                if stop.is_set() or (in_flight == 0 and buffered == 0 and exhausted):
                    break
                try:
                    index, url, report_json, error = results.get(timeout=_POLL)
                except queue.Empty:
                    restarts += self._replace_dead(shards, mp_context, spec, results, observer, outcome, inherited)
                    if restarts > _RESTARTS:
                        raise RuntimeError("audit worker processes keep dying; see the messages above") from None
                    continue
                self._deliver_json(shards[index], url, report_json, error, observer, outcome)
            # Stopped (or done): hand over what already finished, give up the rest.
            while any(s.in_flight for s in shards):
                try:
                    index, url, report_json, error = results.get(timeout=0.05)
                except queue.Empty:
                    break
                self._deliver_json(shards[index], url, report_json, error, observer, outcome)
            outcome.abandoned = sum(len(s.in_flight) for s in shards)
            outcome.stopped = stop.is_set()
        finally:
            for shard in shards:
                if outcome.abandoned or stop.is_set() or not shard.process.is_alive():
                    shard.process.terminate()
                else:
                    for _ in range(shard.threads):
                        shard.queue.put(None)
            for shard in shards:
                shard.process.join(timeout=5)
                if shard.process.is_alive():
                    shard.process.kill()
                shard.queue.cancel_join_thread()
            results.cancel_join_thread()
        return outcome

    @staticmethod
    def _deliver_json(shard: _Shard, url: str, report_json: str | None, error: str | None,
                      observer: AuditObserver, outcome: RunOutcome) -> None:
        task = shard.in_flight.pop(url, None)
        if task is None:  # from a process that was replaced, after its sites were failed
            return
        if report_json is not None:
            outcome.deliver(observer, task, Report.model_validate_json(report_json), None)
        else:
            outcome.deliver(observer, task, None, RuntimeError(error))

    @staticmethod
    def _replace_dead(shards: list[_Shard], mp_context: Any, spec: ContextSpec, results: Any,
                      observer: AuditObserver, outcome: RunOutcome, ruleset: RuleSet | None) -> int:
        replaced = 0
        for i, shard in enumerate(shards):
            if shard.process.is_alive():
                continue
            code = shard.process.exitcode
            for task in shard.in_flight.values():
                outcome.deliver(observer, task, None, RuntimeError(f"audit worker process died (exit code {code})"))
            fresh = _Shard(i, mp_context, spec, shard.threads, results, ruleset)
            fresh.waiting = shard.waiting
            shards[i] = fresh
            replaced += 1
        return replaced


def _shard_of(url: str, count: int) -> int:
    # crc32, not hash(): stable across processes and runs.
    return zlib.crc32(registrable_domain(host_of(url)).encode()) % count


def _process_main(index: int, spec: ContextSpec, threads: int, tasks: Any, results: Any, parent: int,
                  ruleset: RuleSet | None = None) -> None:
    """A worker process: `threads` threads auditing the sites its queue hands it, with the
    parent's `ruleset` (forked) or the spec's rules loaded here."""
    child_of_the_audit(parent)
    ctx = spec.build(ruleset)

    def work() -> None:
        while True:
            task = tasks.get()
            if task is None:
                return
            try:
                results.put((index, task.url, audit_site(task, ctx).model_dump_json(), None))
            except Exception as exc:
                results.put((index, task.url, None, f"{type(exc).__name__}: {exc}"))

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.close()
    results.join_thread()  # make sure every report reached the pipe before exiting


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


def usable_cores() -> int:
    """The cores this process may run on: those its CPU affinity allows (taskset, cpusets),
    fewer if a cgroup CPU quota caps it (a container started with --cpus=2 on a 64-core host
    sees 64 in os.cpu_count(), and processes sized by that would only queue for its 2)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this platform
        cores = os.cpu_count() or 1
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 CPU controller here, or a line we cannot read
        pass
    return max(1, cores)


def default_processes(workers: int) -> int:
    """One process per core when there are enough sites in flight to keep them busy."""
    return max(1, min(usable_cores(), workers // 4))


# Up to this many cores an audit without --runner fetches in one process and analyses in one
# process per core (the pool): on 2 cores it audited more sites per second than worker
# processes that each fetch and analyse, with less CPU and memory (README, "How many
# workers"). Beyond it the one fetching process would become the limit: it spends ~11 ms of
# CPU per site to the analysis processes' ~36, so it would fill its core at 3-4 of them.
POOL_MAX_CORES = 4


def default_runner_kind(workers: int, processes: int | None, options: FetchOptions) -> str:
    """The runner of an audit that names none: "pool" on 2 to POOL_MAX_CORES cores when
    there are enough sites in flight for several processes (the same test as the worker
    processes had, `default_processes`) and no browser reads the pages; else "local"
    (threads, or worker processes: --processes 1 still means threads in one process)."""
    cores = usable_cores()
    several = default_processes(workers) > 1 if processes is None else processes > 1
    return "pool" if several and 1 < cores <= POOL_MAX_CORES and not options.uses_browser else "local"


# --- the registry: runner kind -> its factory ----------------------------------------------


@dataclass(frozen=True)
class RunnerSettings:
    """What `pharmcheck audit` tells a runner (each kind uses what applies to it)."""

    workers: int  # sites in flight
    processes: int | None = None  # worker processes (None: the runner's default)
    scheduler: str | None = None  # address of a cluster's scheduler, for runners that use one
    ctx: CheckContext | None = None  # the run's context, built (rules loaded) once by the caller


RunnerFactory = Callable[[RunnerSettings], Runner]


def make_runner(kind: str, settings: RunnerSettings) -> Runner:
    """The runner of `kind` (one of `runner_kinds()`); ValueError for an unknown kind."""
    target = RUNNERS.get(kind)
    if target is None:
        raise ValueError(f"unknown runner {kind!r} (known: {', '.join(RUNNERS)})")
    module, _, name = target.partition(":")
    factory: RunnerFactory = getattr(importlib.import_module(module), name)
    return factory(settings)


def local_runner(settings: RunnerSettings) -> Runner:
    """Threads in this process, or (more than one process) worker processes each running threads."""
    workers = settings.workers
    processes = default_processes(workers) if settings.processes is None else settings.processes
    if processes <= 1:
        return ThreadRunner(workers, settings.ctx)
    return ProcessRunner(workers, processes, settings.ctx.ruleset if settings.ctx is not None else None)


def pool_runner(settings: RunnerSettings) -> Runner:
    """Threads that only fetch, and processes (one per core, or --processes) that analyse."""
    processes = settings.processes or usable_cores()
    return ThreadRunner(settings.workers, settings.ctx, analysis_processes=processes)
