"""`pharmcheck audit --runner serial`: one site at a time, on the caller's thread.

For debugging and profiling a run (a profiler or debugger sees every site's work in the main
thread, sites finish in input order); `--workers` and `--processes` do not apply. Ctrl-C stops
after the site in progress, which is kept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from pharmcheck.audit.runner import (
    AuditObserver,
    ContextSpec,
    RunnerSettings,
    RunOutcome,
    SiteTask,
    audit_site,
)
from pharmcheck.check import CheckContext


class SerialRunner:
    def __init__(self, ctx: CheckContext | None = None) -> None:
        self.ctx = ctx  # built by the caller (rules loaded once), or from the spec in run()

    def run(self, tasks: Iterable[SiteTask], spec: ContextSpec, observer: AuditObserver,
            stop: threading.Event) -> RunOutcome:
        ctx = self.ctx or spec.build()
        outcome = RunOutcome()
        for task in tasks:
            if stop.is_set():
                break
            observer.site_started(task)
            try:
                report = audit_site(task, ctx)
            except Exception as exc:  # a bug in pharmcheck on this site: reported, the run goes on
                outcome.deliver(observer, task, None, exc)
            else:
                outcome.deliver(observer, task, report, None)
        outcome.stopped = stop.is_set()
        return outcome


def serial_runner(settings: RunnerSettings) -> SerialRunner:
    return SerialRunner(settings.ctx)
