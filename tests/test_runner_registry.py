"""Runners are chosen by kind from one registry (audit/defaults.py RUNNERS): a new runner is a
module with a factory plus one registration line, and `--runner` offers every kind."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

from pharmcheck.audit import runner
from pharmcheck.audit.defaults import runner_kinds
from pharmcheck.audit.runner import (
    AuditObserver,
    ContextSpec,
    RunnerSettings,
    RunOutcome,
    SiteTask,
    ThreadRunner,
    audit_site,
    make_runner,
)
from pharmcheck.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SITES = ["https://cheap-meds-24.example/", "https://www.northbridge-pharmacy.example/"]
USED: list[RunnerSettings] = []


class OneByOne:
    """A runner defined outside the package: one site at a time, on the caller's thread."""

    def __init__(self, settings: RunnerSettings) -> None:
        self.settings = settings

    def run(self, tasks: Iterable[SiteTask], spec: ContextSpec, observer: AuditObserver,
            stop: threading.Event) -> RunOutcome:
        ctx = self.settings.ctx or spec.build()
        outcome = RunOutcome()
        for task in tasks:
            if stop.is_set():
                outcome.stopped = True
                break
            observer.site_started(task)
            observer.site_done(task, audit_site(task, ctx))
            outcome.completed += 1
        return outcome


def one_by_one(settings: RunnerSettings) -> OneByOne:
    USED.append(settings)
    return OneByOne(settings)


def test_the_shipped_kinds_and_what_they_make() -> None:
    assert runner_kinds()[:3] == ["local", "dask", "serial"]
    assert isinstance(make_runner("local", RunnerSettings(workers=4, processes=1)), ThreadRunner)
    assert isinstance(make_runner("local", RunnerSettings(workers=8, processes=2)), runner.ProcessRunner)
    pool = make_runner("pool", RunnerSettings(workers=8, processes=2))
    assert isinstance(pool, ThreadRunner) and pool.analysis_processes == 2
    for kind in runner_kinds():  # every registration names a real factory, in the audit room
        assert runner.RUNNERS[kind].startswith("pharmcheck.audit.")
        assert callable(getattr(make_runner(kind, RunnerSettings(workers=2, processes=1)), "run", None))
    with pytest.raises(ValueError, match="unknown runner 'carrier-pigeon'"):
        make_runner("carrier-pigeon", RunnerSettings(workers=1))


def test_a_registered_runner_is_offered_by_the_cli_and_audits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(runner.RUNNERS, "one-by-one", f"{__name__}:one_by_one")  # the one registration line
    assert "one-by-one" in runner_kinds()
    assert main(["audit", "sites.txt", "--runner", "nope"]) == 2  # usage error, naming every kind
    assert "'local', 'dask', 'serial', 'pool', 'one-by-one'" in capsys.readouterr().err
    USED.clear()
    targets = tmp_path / "sites.txt"
    targets.write_text("\n".join(SITES) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = main(["audit", str(targets), "--runner", "one-by-one", "--workers", "3", "--db", str(tmp_path / "a.db"),
                 "--replay", str(EXAMPLES), "--no-progress", "-o", str(out)])
    assert code == 0
    assert len(USED) == 1 and USED[0].workers == 3 and USED[0].ctx is not None  # built once, by the session
    reports = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["url"] for r in reports] == SITES  # one at a time, in input order
    assert {r["verdict"] for r in reports} == {"rogue", "legitimate"}
    capsys.readouterr()


def test_the_serial_runner_audits_in_input_order_and_loads_the_rules_once(
        tmp_path: Path, rule_loads: list[object], capsys: pytest.CaptureFixture[str]) -> None:
    loads = rule_loads
    targets = tmp_path / "sites.txt"
    targets.write_text("\n".join(reversed(SITES)) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["audit", str(targets), "--runner", "serial", "--db", str(tmp_path / "a.db"),
                 "--replay", str(EXAMPLES), "--no-progress", "-o", str(out)]) == 0
    reports = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["url"] for r in reports] == list(reversed(SITES))
    assert len(loads) == 1
    with sqlite3.connect(tmp_path / "a.db") as db:
        (arguments,) = db.execute("SELECT arguments FROM runs").fetchone()
    assert json.loads(arguments)["runner"] == "serial"
    capsys.readouterr()


@pytest.mark.parametrize(("cores", "workers", "processes", "render", "kind"), [
    (2, 32, None, "off", "pool"),  # 2-4 cores, enough sites in flight: fetch here, analyse in a process per core
    (4, 8, None, "off", "pool"),
    (2, 8, 2, "off", "pool"),
    (2, 4, None, "off", "local"),  # too few sites in flight for a second process: threads
    (2, 32, 1, "off", "local"),  # --processes 1 still means threads in one process
    (1, 32, None, "off", "local"),  # one core: nothing to share the work with
    (8, 32, None, "off", "local"),  # many cores: one fetching process would be the limit
    (2, 32, None, "auto", "local"),  # the browser reads pages in the fetching thread
])
def test_an_audit_that_names_no_runner_gets_the_best_one_for_the_machine(
        monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, processes: int | None, render: str,
        kind: str) -> None:
    from pharmcheck.audit.session import AuditOptions
    from pharmcheck.models import FetchOptions

    monkeypatch.setattr(runner, "usable_cores", lambda: cores)
    opts = AuditOptions(input="sites.txt", workers=workers, processes=processes, fetch=FetchOptions(render=render))
    assert opts.runner_kind == kind
    assert AuditOptions(input="sites.txt", workers=workers, runner="serial").runner_kind == "serial"


@pytest.mark.parametrize(("affinity", "cpu_max", "cores"), [
    ({0, 1, 2, 3}, None, 4),  # no cgroup CPU controller: the cores the process may run on
    ({0, 1, 2, 3}, "max 100000\n", 4),  # a cgroup without a quota
    (set(range(64)), "200000 100000\n", 2),  # a container started with --cpus=2 on a 64-core host
    (set(range(64)), "150000 100000\n", 2),  # --cpus=1.5: a second process still has work
    (set(range(64)), "50000 100000\n", 1),  # half a core is still one process
    ({3}, "400000 100000\n", 1),  # pinned to one core (taskset) under a larger quota
    ({0, 1}, "garbage\n", 2),  # a line we cannot read is no quota
])
def test_the_audit_sizes_its_processes_by_the_cores_it_may_use_not_the_hosts(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, affinity: set[int], cpu_max: str | None, cores: int) -> None:
    cpu_max_file = tmp_path / "cpu.max"
    if cpu_max is not None:
        cpu_max_file.write_text(cpu_max)
    monkeypatch.setattr(runner, "CGROUP_CPU_MAX", cpu_max_file)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: affinity)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert runner.usable_cores() == cores
    assert runner.default_processes(workers=256) == cores
