"""`--runner pool`: threads that only fetch, and analysis processes that extract and judge.
The same reports as the thread runner; a dying analysis process costs its site, not the run."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from pharmcheck.audit import analysis
from pharmcheck.audit.analysis import AnalysisPoolDied
from pharmcheck.audit.runner import ContextSpec, SiteTask, ThreadRunner
from pharmcheck.cli import main
from pharmcheck.models import FetchOptions, Report
from pharmcheck.ruleset import RuleSet

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SITES = ["https://www.northbridge-pharmacy.example/", "https://cheap-meds-24.example/", "https://nowhere.example/"]
forked_only = pytest.mark.skipif(multiprocessing.get_start_method() != "fork",
                                 reason="the test changes code the forked processes inherit")


class _Keep:
    def __init__(self) -> None:
        self.reports: dict[int, str] = {}
        self.failed: dict[str, str] = {}

    def site_started(self, task: SiteTask) -> None:
        pass

    def site_done(self, task: SiteTask, report: Report) -> None:
        self.reports[task.position] = report.model_dump_json(exclude={"checked_at", "duration"})

    def site_failed(self, task: SiteTask, error: BaseException) -> None:
        self.failed[task.url] = str(error)


def _audit(ruleset: RuleSet, processes: int, tasks: list[SiteTask], workers: int = 4,
           spec: ContextSpec | None = None) -> _Keep:
    spec = spec or ContextSpec(FetchOptions(), replay=str(EXAMPLES))
    seen = _Keep()
    ThreadRunner(workers, spec.build(ruleset), analysis_processes=processes).run(tasks, spec, seen, threading.Event())
    return seen


def test_analysis_processes_write_the_reports_the_threads_write(ruleset: RuleSet) -> None:
    tasks = [SiteTask(SITES[i % 3], i) for i in range(9)]
    here, there = _audit(ruleset, 0, tasks), _audit(ruleset, 2, tasks)
    assert not here.failed and not there.failed
    assert len(there.reports) == 9 and there.reports == here.reports
    verdicts = {json.loads(r)["verdict"] for r in there.reports.values()}
    assert verdicts == {"legitimate", "rogue", "unreachable"}


@forked_only
def test_processes_inherit_the_rules_the_run_loaded(tmp_path: Path, ruleset: RuleSet) -> None:
    # Rules that cannot load: a process that loaded them again would die at start.
    spec = ContextSpec(FetchOptions(), rules=str(tmp_path / "no-such-rules"), replay=str(EXAMPLES))
    seen = _audit(ruleset, 2, [SiteTask(SITES[0], 0), SiteTask(SITES[1], 1)], spec=spec)
    assert not seen.failed and len(seen.reports) == 2


@forked_only
def test_a_dying_process_costs_its_site_not_the_run(monkeypatch: pytest.MonkeyPatch, ruleset: RuleSet) -> None:
    real = analysis.extract_page

    def deadly(resp: Any, index: Any) -> Any:
        if "cheap-meds" in resp.url:
            os._exit(3)  # as a crash in a parser would
        return real(resp, index)

    monkeypatch.setattr(analysis, "extract_page", deadly)  # the processes are forked with it
    # One site at a time: only the one whose page kills the process is in it when it dies.
    seen = _audit(ruleset, 1, [SiteTask(SITES[0], 0), SiteTask(SITES[1], 1), SiteTask(SITES[2], 2)], workers=1)
    assert list(seen.failed) == [SITES[1]] and "analysis process died (exit code 3)" in seen.failed[SITES[1]]
    assert sorted(seen.reports) == [0, 2]  # the process was started again for the next site


@forked_only
def test_processes_that_keep_dying_stop_the_audit(monkeypatch: pytest.MonkeyPatch, ruleset: RuleSet) -> None:
    monkeypatch.setattr(analysis, "extract_page", lambda resp, index: os._exit(3))
    with pytest.raises(AnalysisPoolDied, match="keep dying"):
        _audit(ruleset, 1, [SiteTask(SITES[0], i) for i in range(10)],
               workers=1)


def test_the_cli_audits_with_the_pool_runner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    targets = tmp_path / "sites.txt"
    targets.write_text("\n".join(SITES[:2]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["audit", str(targets), "--runner", "pool", "--processes", "2", "--db", str(tmp_path / "a.db"),
                 "--replay", str(EXAMPLES), "--no-progress", "-o", str(out)]) == 0
    reports = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["verdict"] for r in reports) == ["legitimate", "rogue"]
    capsys.readouterr()


def test_closing_the_pool_lets_every_process_exit_by_itself(ruleset: RuleSet) -> None:
    # Killed (exit code -9) after a join timeout is what happened when a process saw no
    # EOF: its socket was still held open by our reader thread and by its siblings.
    pool = analysis.AnalysisPool(3, ruleset, None)
    site = pool.site(ruleset)
    site.close()
    processes = [p.process for p in pool._processes]
    pool.close()
    assert [p.exitcode for p in processes] == [0, 0, 0]
