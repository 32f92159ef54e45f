"""`pharmcheck audit --runner dask [--scheduler tcp://HOST:8786]`: sites audited on Dask workers.

The client (this process) stays what it is with the other runners: it reads the input, and
stores, writes and counts every result as it comes back, on the caller's thread, so resume,
progress, outputs and Ctrl-C are unchanged. Only `audit_site` runs on the workers.

- Backpressure: sites are submitted in batches of `batch` futures, and never more than
  `in_flight` sites (a few batches) are submitted and not yet collected; results are gathered
  as each finishes, so memory stays flat however long the input.
- Rules: each worker process builds its `CheckContext` once per run spec (`_worker_context`,
  a per-process cache) and checks it against the client's rules identity (pharmcheck
  version, rules version, a hash of every rules file): at start for every worker connected,
  and again in each task for workers that join later. A mismatched worker is refused with
  a usage error naming it.
- Politeness: a registrable domain has at most one site in flight in the whole cluster (the
  client holds back later sites of a busy domain), so the per-host connection cap of that
  site's fetcher is the cap for the host across all workers.
- A worker that dies mid-site loses nothing: the scheduler runs its sites again elsewhere,
  and also those it had finished whose results the client had not fetched yet.
  A site whose task has killed `distributed.scheduler.allowed-failures` workers (3 by
  default) comes back as `KilledWorker`; it is stored as unreachable with a `worker_crash`
  error, not retried for ever.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pharmcheck import __version__
from pharmcheck.audit.runner import (
    AuditObserver,
    ContextSpec,
    RunnerSettings,
    RunOutcome,
    SiteTask,
    audit_site,
    usable_cores,
)
from pharmcheck.check import CheckContext, assess
from pharmcheck.errors import UsageError
from pharmcheck.models import ErrorCode, FetchError, Report, SiteFacts
from pharmcheck.urls import host_of, registrable_domain

_POLL = 0.05  # how often the client looks at `stop` and at finished futures
_CONNECT_TIMEOUT = 30  # seconds to reach a scheduler
_WORKER_WAIT = 60  # seconds to wait for a first worker at an external scheduler


def rules_identity(ctx: CheckContext) -> dict[str, str]:
    """What must be the same on the client and every worker for their reports to agree."""
    return {"pharmcheck": __version__, "rules_version": ctx.ruleset.version, "rules_sha256": ctx.ruleset.content_hash}


class RulesMismatch(Exception):
    """A worker whose pharmcheck or rules differ from the client's."""


# --- on the workers -------------------------------------------------------------------------

_CONTEXTS: dict[str, tuple[CheckContext, dict[str, str]]] = {}
_CONTEXTS_LOCK = threading.Lock()


def _worker_context(spec: ContextSpec) -> tuple[CheckContext, dict[str, str]]:
    """The context of a run spec, built once per worker process (rules loaded once), shared by
    the worker's threads: one HostLimiter for every site the process audits."""
    key = repr(spec)
    with _CONTEXTS_LOCK:
        found = _CONTEXTS.get(key)
        if found is None:
            if len(_CONTEXTS) >= 4:  # a long-lived worker serving many runs
                _CONTEXTS.clear()
            ctx = spec.build()
            found = _CONTEXTS[key] = (ctx, rules_identity(ctx))
        return found


def worker_identity(spec: ContextSpec) -> dict[str, str]:
    """Run on every worker at start (client.run): loads the rules and says what they are."""
    return _worker_context(spec)[1]


def audit_on_worker(task: SiteTask, spec: ContextSpec, expected: dict[str, str]) -> str:
    """One site on a worker; the report comes back as JSON (the client stores it as it is)."""
    ctx, identity = _worker_context(spec)
    if identity != expected:
        raise RulesMismatch(_mismatch_text(os.uname().nodename, identity, expected))
    return audit_site(task, ctx).model_dump_json()


def _mismatch_text(worker: str, got: dict[str, str], want: dict[str, str]) -> str:
    differ = ", ".join(f"{k} {got.get(k)} instead of {v}" for k, v in want.items() if got.get(k) != v)
    return (f"Dask worker {worker} has other rules than this client ({differ}); install the same pharmcheck "
            "and rules on every worker (pip install 'pharmcheck[dask]')")


# --- on the client --------------------------------------------------------------------------


def worker_crash_report(task: SiteTask, ctx: CheckContext, message: str) -> Report:
    """A site that killed the workers that audited it: stored as could-not-assess, with why."""
    url = task.url
    site = SiteFacts(url=url, final_url=url, domain=registrable_domain(host_of(url)), host=host_of(url))
    error = FetchError(code=ErrorCode.worker_crash, url=url, message=message)
    return assess(site, [], [error], ctx.ruleset)


class DaskRunner:
    """Sites on a Dask cluster: the one at `scheduler`, or a LocalCluster of `local_workers`
    worker processes started (and stopped) by the run."""

    def __init__(self, in_flight: int, scheduler: str | None = None, local_workers: int | None = None,
                 ctx: CheckContext | None = None, batch: int | None = None,
                 site_function: Callable[[SiteTask, ContextSpec, dict[str, str]], str] = audit_on_worker) -> None:
        if in_flight < 1:
            raise ValueError("in_flight must be at least 1")
        self.in_flight = in_flight
        self.scheduler = scheduler
        self.local_workers = local_workers or usable_cores()
        self.ctx = ctx
        self.batch = batch or max(1, in_flight // 4)  # so at most ~4 batches are in flight
        self.site_function = site_function  # what a worker runs per site (a test may wrap it)
        self.workers_seen: list[str] = []

    # -- connecting --

    def _connect(self) -> tuple[Any, Any]:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise UsageError("--runner dask needs Dask: pip install 'pharmcheck[dask]'") from None
        logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO lines would drown the progress
        if self.scheduler is None:
            threads = math.ceil(self.in_flight / self.local_workers)
            cluster = LocalCluster(n_workers=self.local_workers, threads_per_worker=threads, processes=True,
                                   dashboard_address=None, host="127.0.0.1")
            return cluster, Client(cluster)
        try:
            client = Client(self.scheduler, timeout=_CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}") from exc
        try:
            client.wait_for_workers(1, timeout=_WORKER_WAIT)
        except TimeoutError:
            client.close()
            raise UsageError(f"no Dask worker joined the scheduler at {self.scheduler} within {_WORKER_WAIT} s "
                             "(start some with: dask worker " + self.scheduler + ")") from None
        return None, client

    def _check_workers(self, client: Any, spec: ContextSpec, expected: dict[str, str]) -> None:
        answers = client.run(worker_identity, spec, on_error="return")
        for address, identity in sorted(answers.items()):
            if isinstance(identity, BaseException):
                raise UsageError(f"Dask worker {address} cannot load the rules: {type(identity).__name__}: {identity}")
            if identity != expected:
                raise UsageError(_mismatch_text(address, identity, expected))
        self.workers_seen = sorted(answers)

    # -- running --

    def run(self, tasks: Iterable[SiteTask], spec: ContextSpec, observer: AuditObserver,
            stop: threading.Event) -> RunOutcome:
        ctx = self.ctx or spec.build()
        spec = _absolute(spec)  # a worker's working directory is not ours
        expected = rules_identity(ctx)
        cluster, client = self._connect()
        try:
            self._check_workers(client, spec, expected)
            return self._run(client, tasks, spec, expected, ctx, observer, stop)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def _run(self, client: Any, tasks: Iterable[SiteTask], spec: ContextSpec, expected: dict[str, str],
             ctx: CheckContext, observer: AuditObserver, stop: threading.Event) -> RunOutcome:
        from distributed import CancelledError, KilledWorker, as_completed

        outcome = RunOutcome()
        source: Iterator[SiteTask] = iter(tasks)
        exhausted = False
        held: deque[SiteTask] = deque()  # taken from the input, waiting for their domain to be free
        busy: set[str] = set()  # domains with a site in flight
        running: dict[str, tuple[SiteTask, str]] = {}  # future key -> (task, domain)
        futures_of: dict[str, Any] = {}  # future key -> future, while running
        finished = as_completed()
        keys = (f"pharmcheck-site-{uuid.uuid4().hex[:8]}-{i}" for i in itertools.count())

        def take_batch() -> list[SiteTask]:
            nonlocal exhausted
            batch: list[SiteTask] = []
            room = min(self.batch, self.in_flight - len(running))
            for task in list(held):  # sites held back first, in input order
                if len(batch) >= room:
                    break
                domain = _domain(task.url)
                if domain not in busy:
                    held.remove(task)
                    busy.add(domain)
                    batch.append(task)
            # New input only while few sites are held back: the input is read lazily.
            while len(batch) < room and not exhausted and len(held) < self.in_flight * 4:
                new = next(source, None)
                if new is None:
                    exhausted = True
                    break
                domain = _domain(new.url)
                if domain in busy:
                    held.append(new)
                else:
                    busy.add(domain)
                    batch.append(new)
            return batch

        def collect(future: Any) -> None:
            if future.status in ("lost", "pending"):
                # Done when `finished` saw it, then its worker died holding the result: the
                # scheduler computes it again, and it comes back through `finished` when done.
                finished.add(future)
                return
            task, domain = running.pop(future.key)
            futures_of.pop(future.key, None)
            busy.discard(domain)
            try:
                # A result whose worker died since is fetched once it is computed again.
                payload = future.result()
            except KilledWorker:
                message = ("every Dask worker that audited this site died during it (the scheduler's "
                           "allowed-failures were used up); not retried again")
                outcome.deliver(observer, task, worker_crash_report(task, ctx, message), None)
            except (Exception, CancelledError) as error:
                if isinstance(error, RulesMismatch) or type(error).__name__ == "RulesMismatch":
                    raise UsageError(str(error)) from None
                outcome.deliver(observer, task, None, error)
            else:
                outcome.deliver(observer, task, Report.model_validate_json(payload), None)

        while True:
            # Submit while there is room for a whole batch (or the input is ending).
            while not stop.is_set() and self.in_flight - len(running) >= min(self.batch, self.in_flight):
                batch = take_batch()
                if not batch:
                    break
                for task in batch:
                    observer.site_started(task)
                futures = client.map(self.site_function, batch, spec=spec, expected=expected,
                                     key=[next(keys) for _ in batch], pure=False)
                for task, future in zip(batch, futures, strict=True):
                    running[future.key] = (task, _domain(task.url))
                    futures_of[future.key] = future
                    finished.add(future)
            if stop.is_set() or (not running and exhausted and not held):
                break
            if finished.has_ready():
                for future in finished.next_batch(block=False):
                    if future.key in running:
                        collect(future)
            else:
                time.sleep(_POLL)
        # Stopped: hand over what already finished, give up the rest.
        for future in list(futures_of.values()):
            if future.done() and future.key in running:
                collect(future)
        outcome.abandoned = len(running)
        outcome.stopped = stop.is_set()
        if running:
            client.cancel([futures_of[key] for key in running], force=True)
        return outcome


def dask_runner(settings: RunnerSettings) -> DaskRunner:
    """`--runner dask`: the cluster at `--scheduler`, or a local one of `--processes` workers."""
    return DaskRunner(settings.workers, scheduler=settings.scheduler, local_workers=settings.processes, ctx=settings.ctx)


def _domain(url: str) -> str:
    return registrable_domain(host_of(url))


def _absolute(spec: ContextSpec) -> ContextSpec:
    def resolve(path: str | None) -> str | None:
        return str(Path(path).resolve()) if path else None

    return dataclasses.replace(spec, rules=resolve(spec.rules), replay=resolve(spec.replay))
