"""Audit building blocks: reading the list, CSV/JSONL formatting, the SQLite store."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from pharmcheck.audit.inputs import BadLine, InputSource, Target, read_targets
from pharmcheck.audit.progress import Progress
from pharmcheck.audit.runner import ContextSpec, SiteTask
from pharmcheck.audit.store import SqliteStore
from pharmcheck.check import CheckContext
from pharmcheck.errors import UsageError
from pharmcheck.models import (
    AuditRun,
    Confidence,
    CriterionResult,
    ErrorCode,
    Evidence,
    FetchError,
    FetchOptions,
    Finding,
    Report,
    Severity,
    Status,
    ToolInfo,
    Verdict,
)
from pharmcheck.report.tabular import CsvFormatter, csv_safe, json_document, jsonl_line, render_csv
from pharmcheck.ruleset import RuleSet
from sitekit import EXAMPLES

TOOL = ToolInfo(name="pharmcheck", version="0.1.0", rules_version="test")


def _read(text: str, csv_hint: bool = False) -> tuple[list[Target], list[BadLine]]:
    items = list(read_targets(io.StringIO(text), csv_hint=csv_hint))
    return [i for i in items if isinstance(i, Target)], [i for i in items if isinstance(i, BadLine)]


def test_text_list_normalises_dedupes_and_reports_bad_lines_by_number() -> None:
    targets, bad = _read(
        "# pharmacies to audit\n"
        "\n"
        "Pharmacy-One.example\n"           # 3: bare domain -> https
        "http://two.example/shop#top\n"    # 4: fragment dropped
        "bad url with spaces\n"            # 5
        "https://PHARMACY-ONE.example/\n"  # 6: duplicate of line 3
        "ftp://three.example/\n"           # 7: not http(s)
        "   https://four.example  \n"      # 8: stray spaces
        "justaword\n"                      # 9: no dot: a typo, not a site
    )
    assert [(t.url, t.line, t.position) for t in targets] == [
        ("https://pharmacy-one.example/", 3, 0),
        ("http://two.example/shop", 4, 1),
        ("https://four.example/", 8, 2),
    ]
    assert [b.line for b in bad] == [5, 7, 9]
    assert "line 7" in str(bad[1]) and "scheme" in str(bad[1])


def test_csv_list_uses_the_url_column_and_counts_physical_lines() -> None:
    targets, bad = _read(
        "\ufeffname,url,notes\n"
        'One,one.example,"plain"\n'
        'Two,https://two.example/,"a note\nover two lines"\n'
        "Three,,missing\n"
        "Four,four example,bad\n"
        "Five,one.example,duplicate\n"
    )
    assert [(t.url, t.line) for t in targets] == [("https://one.example/", 2), ("https://two.example/", 3)]
    assert [(b.line, b.reason) for b in bad] == [(5, "empty url cell"), (6, "contains spaces")]


def test_csv_detected_by_header_without_csv_extension(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("domain;url\nx;https://a.example/\ny;b.example\n")
    source = InputSource(str(listing))
    assert [t.url for t in source.read() if isinstance(t, Target)] == ["https://a.example/", "https://b.example/"]
    assert source.count() == 2


def test_csv_without_url_column_is_a_usage_error(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text("name,domain\nx,a.example\n")
    with pytest.raises(UsageError, match="no 'url' column"):
        list(InputSource(str(listing)).read())


def test_missing_input_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        InputSource(str(tmp_path / "nope.txt"))


def test_long_input_is_read_lazily() -> None:
    lines = (f"site{i}.example\n" for i in range(1_000_000))
    served = 0

    class Stream:
        """A 17 MB list that counts how much of it has been read."""

        def read(self, size: int = -1) -> str:
            nonlocal served
            out: list[str] = []
            while size < 0 or sum(map(len, out)) < size:
                line = next(lines, "")
                if not line:
                    break
                out.append(line)
            served += sum(map(len, out))
            return "".join(out)

        def readline(self) -> str:
            nonlocal served
            line = next(lines, "")
            served += len(line)
            return line

    items = read_targets(Stream())  # type: ignore[arg-type,unused-ignore]  # duck-typed stream
    first = [next(items) for _ in range(5000)]
    assert isinstance(first[-1], Target) and first[-1].url == "https://site4999.example/"
    assert served < 200_000  # a sniffed head and what was asked for, not the whole list


# --- formatting -----------------------------------------------------------------------


def _report(url: str = "https://rogue.example/", message: str = "Sells opioids without prescription",
            verdict: Verdict = Verdict.rogue) -> Report:
    finding = Finding(rule_id="RX-NO-PRESCRIPTION", criterion="prescription", severity=Severity.critical,
                      confidence=Confidence.high, weight=-40, message=message,
                      evidence=[Evidence(url=url, text="no prescription needed")])
    return Report(url=url, final_url=url, verdict=verdict, score=5, tool=TOOL, findings=[finding],
                  criteria={"prescription": CriterionResult(status=Status.red_flag, score=5, findings=[finding]),
                            "seller": CriterionResult(status=Status.met, score=90)},
                  checked_at="2026-01-01T00:00:00+00:00")


@pytest.mark.parametrize("payload", ["=HYPERLINK(\"http://evil.example\")", "+1+2", "-2+3", "@SUM(A1)",
                                     "\t=1+1", "\r=1+1"])
def test_csv_cells_that_would_run_as_formulas_are_neutralised(payload: str) -> None:
    report = _report(url=payload, message=payload)
    report.findings[0].rule_id = payload  # the top-findings cell then starts with the payload too
    text = "".join(render_csv([report]))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    for cell in rows[0].values():
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert rows[0]["url"] == "'" + payload
    assert csv_safe("https://ok.example/") == "https://ok.example/"


def test_csv_row_has_verdict_score_criteria_and_top_findings() -> None:
    formatter = CsvFormatter(["seller", "prescription", "licensing"])
    text = formatter.header() + formatter.row(_report())
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["verdict"] == "rogue" and row["score"] == "5"
    assert (row["seller_status"], row["prescription_status"], row["licensing_status"]) == ("met", "red_flag", "")
    assert row["top_findings"] == "RX-NO-PRESCRIPTION: Sells opioids without prescription"


def test_jsonl_line_is_the_check_json_compacted() -> None:
    report = _report()
    line = jsonl_line(report)
    assert line.endswith("\n") and "\n" not in line[:-1]
    assert Report.model_validate_json(line) == report


def test_json_document_holds_the_run_and_every_report() -> None:
    report = _report()
    run = AuditRun(id=3, input="list.txt", tool=report.tool, started_at="2026-11-25T10:00:00+00:00")
    document = json.loads("".join(json_document(run, [report, report])))
    assert document["run"]["id"] == 3
    assert [Report.model_validate(r) for r in document["reports"]] == [report, report]
    assert json.loads("".join(json_document(run, [])))["reports"] == []


# --- store ----------------------------------------------------------------------------


def test_store_keeps_one_row_per_site_and_findings_queryable(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    store = SqliteStore(db)
    run = store.start_run("list.txt", "/abs/list.txt", {"workers": 4}, TOOL, total=2)
    store.add_site(run.id, 1, _report())
    store.add_site(run.id, 1, _report())  # stored again: replaces, never duplicates
    down = Report(url="https://down.example/", final_url="https://down.example/", verdict=Verdict.unreachable,
                  score=50, tool=TOOL, errors=[FetchError(code=ErrorCode.dns, url="https://down.example/",
                                                          message="DNS lookup failed")])
    store.add_site(run.id, 0, down)
    assert store.resumable_run("/abs/list.txt") == run
    store.finish_run(run.id)
    assert store.resumable_run("/abs/list.txt") is None
    assert [r.url for r in store.reports(run.id)] == ["https://down.example/", "https://rogue.example/"]  # input order
    store.close()

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT count(*) FROM sites").fetchone()[0] == 2
    fired = conn.execute("SELECT DISTINCT url FROM findings WHERE rule_id LIKE 'RX-%'").fetchall()
    assert fired == [("https://rogue.example/",)]
    kinds = conn.execute("SELECT url, error_kind FROM sites ORDER BY url").fetchall()
    assert kinds == [("https://down.example/", "dns"), ("https://rogue.example/", None)]
    stored = json.loads(conn.execute("SELECT report FROM sites WHERE url = 'https://rogue.example/'").fetchone()[0])
    assert stored["verdict"] == "rogue" and stored["findings"][0]["rule_id"] == "RX-NO-PRESCRIPTION"


def test_store_refuses_a_database_that_is_not_ours(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(UsageError, match="not a pharmcheck audit database"):
        SqliteStore(other)


def test_progress_shows_done_total_rate_eta_and_verdicts() -> None:
    stream = io.StringIO()
    progress = Progress(stream, "log", total=10, already_done=4, log_every=0)
    progress.started -= 2.0  # two seconds into the session
    progress.site_done("rogue")
    progress.site_done("legitimate")
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith("pharmcheck: audit: 6/10 sites · 1.0/s · ETA 4s")
    assert "legit 1" in last and "rogue 1" in last

    quiet = io.StringIO()
    Progress(quiet, "off", total=None).site_done("rogue")
    assert quiet.getvalue() == ""


def test_progress_on_a_terminal_is_a_bar_drawn_in_place_and_erased() -> None:
    stream = io.StringIO()
    progress = Progress(stream, "tty", total=10, already_done=4, force_terminal=True)
    progress.site_done("rogue")
    drawn = stream.getvalue()
    assert "5/10" in drawn and "rogue 1" in drawn and "\n" not in drawn.rstrip("\n").split("\r")[-1]
    progress.clear()  # before a message: the bar is erased (cursor up / erase line), not left behind
    erased = stream.getvalue()[len(drawn):]
    assert "\x1b[2K" in erased or "\x1b[K" in erased
    progress._last_draw = 0.0
    progress.site_done("legitimate")  # and comes back with the next site
    assert "6/10" in stream.getvalue()[len(drawn) + len(erased):]
    progress.clear()


# --- runners --------------------------------------------------------------------------


class _Collect:
    def __init__(self) -> None:
        self.done: list[str] = []
        self.failed: list[tuple[str, str]] = []

    def site_started(self, task: SiteTask) -> None:
        pass

    def site_done(self, task: SiteTask, report: Report) -> None:
        self.done.append(report.verdict.value)

    def site_failed(self, task: SiteTask, error: BaseException) -> None:
        self.failed.append((task.url, str(error)))


def test_thread_runner_reports_a_crash_of_one_site_and_carries_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from pharmcheck.audit import runner

    def flaky(task: SiteTask, ctx: object) -> Report:
        if "bad" in task.url:
            raise ValueError("boom")
        return _report(url=task.url)

    monkeypatch.setattr(runner, "audit_site", flaky)
    tasks = [SiteTask(f"https://{name}.example/", i) for i, name in enumerate(["a", "bad", "c", "d"])]
    seen = _Collect()
    ctx = CheckContext(ruleset=object())  # type: ignore[arg-type]  # audit_site is replaced: no rules used
    outcome = runner.ThreadRunner(2, ctx=ctx).run(tasks, ContextSpec(FetchOptions()), seen, threading.Event())
    assert (outcome.completed, outcome.failed, outcome.stopped) == (3, 1, False)
    assert seen.failed == [("https://bad.example/", "boom")] and seen.done == ["rogue"] * 3


def test_process_runner_gives_up_on_workers_that_keep_dying(tmp_path: Path) -> None:
    from pharmcheck.audit.runner import ProcessRunner

    # Rules that cannot load make every worker process die at start: the run must end, not hang.
    spec = ContextSpec(FetchOptions(), rules=str(tmp_path / "no-such-rules"))
    seen = _Collect()
    with pytest.raises(RuntimeError, match="keep dying"):
        ProcessRunner(4, 2).run([SiteTask(f"https://s{i}.example/", i) for i in range(6)], spec, seen,
                                threading.Event())
    assert seen.failed and all("worker process died" in why for _, why in seen.failed)
    assert not seen.done


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="rules are inherited by forked workers only")
def test_forked_worker_processes_audit_with_the_rules_the_run_loaded(tmp_path: Path, ruleset: RuleSet) -> None:
    from pharmcheck.audit.runner import ProcessRunner

    # The spec names rules that cannot load: a worker that loaded them again would die. With
    # the run's loaded rules inherited, every site is audited (offline: sites the example
    # capture does not hold are unreachable, quickly) and reports the run's rules version.
    spec = ContextSpec(FetchOptions(), rules=str(tmp_path / "no-such-rules"),
                       replay=str(EXAMPLES / "northbridge-pharmacy.warc.gz"))
    reports: list[Report] = []

    class Keep(_Collect):
        def site_done(self, task: SiteTask, report: Report) -> None:
            reports.append(report)

    seen = Keep()
    outcome = ProcessRunner(4, 2, ruleset).run([SiteTask(f"https://s{i}.example/", i) for i in range(6)], spec,
                                               seen, threading.Event())
    assert (outcome.completed, outcome.failed) == (6, 0) and not seen.failed
    assert {r.tool.rules_version for r in reports} == {ruleset.version}
    assert {r.verdict for r in reports} == {Verdict.unreachable}
