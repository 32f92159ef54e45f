"""Many reports: JSONL (one per line) and a JSON document for programs, CSV for spreadsheets.

Both are written a site at a time (an audit streams them as sites finish). JSONL lines are
exactly `check --format json` reports, compacted. CSV cells that a spreadsheet would run as
a formula (starting with = + - @, or tab/CR which some spreadsheets strip first) are
prefixed with a quote: site text ends up in these cells and must never execute.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import TextIO

from pharmcheck.models import AuditRun, Report
from pharmcheck.report.format import Format, RenderOptions, SiteWriter, register_format
from pharmcheck.report.order import ordered_findings

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
TOP_FINDINGS = 3


def jsonl_line(report: Report) -> str:
    return report.model_dump_json() + "\n"


def json_document(run: AuditRun, reports: Iterable[Report]) -> Iterator[str]:
    """`{"run": ..., "reports": [...]}`, produced a report at a time (memory stays flat)."""
    yield '{"run": ' + run.model_dump_json() + ', "reports": ['
    for i, report in enumerate(reports):
        yield ("\n" if i == 0 else ",\n") + report.model_dump_json()
    yield "\n]}\n"


def csv_safe(cell: str) -> str:
    """Neutralise a cell a spreadsheet would evaluate (OWASP CSV injection advice)."""
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


class CsvFormatter:
    """One row per site: url, verdict, score, each criterion's status, the top findings.

    `criteria` fixes the columns; when None they are taken from the first report (all
    reports of one run share a rule set, hence the same criteria)."""

    def __init__(self, criteria: Iterable[str] | None = None) -> None:
        self.criteria: list[str] | None = list(criteria) if criteria is not None else None

    def header(self, first: Report | None = None) -> str:
        if self.criteria is None:
            self.criteria = list(first.criteria) if first is not None else []
        columns = ["url", "final_url", "verdict", "score", "error"]
        columns += [f"{name}_status" for name in self.criteria]
        columns += ["top_findings", "pages", "checked_at"]
        return _line(columns)

    def row(self, report: Report) -> str:
        if self.criteria is None:
            raise RuntimeError("header() must be written before rows")
        top = ordered_findings(report.findings)[:TOP_FINDINGS]  # red flags first
        error = report.errors[0].code.value if report.errors and report.verdict.value == "unreachable" else ""
        cells: list[str] = [report.url, report.final_url, report.verdict.value,
                             "" if report.score is None else str(report.score), error]
        cells += [report.criteria[name].status.value if name in report.criteria else "" for name in self.criteria]
        cells += [
            " | ".join(f"{f.rule_id}: {f.message}" for f in top),
            str(report.pages_read),
            report.checked_at,
        ]
        return _line(cells)


def _line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([csv_safe(c) for c in cells])
    return buf.getvalue()


def render_csv(reports: Iterable[Report], criteria: Iterable[str] | None = None) -> Iterable[str]:
    """Header then one row per report, lazily."""
    formatter = CsvFormatter(criteria)
    first = True
    for report in reports:
        if first:
            yield formatter.header(report)
            first = False
        yield formatter.row(report)
    if first:
        yield formatter.header()


class _JsonlWriter:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, report: Report) -> None:
        self.out.write(jsonl_line(report))


class JsonlFormat(Format):
    """A run as JSON lines, one `check --format json` report per line, compacted."""

    name = "jsonl"
    media_type = "application/jsonl"
    run = True
    streaming = True

    def write_run(self, out: TextIO, run: AuditRun, reports: Iterable[Report], options: RenderOptions) -> None:
        for report in reports:
            out.write(jsonl_line(report))

    def stream(self, out: TextIO, criteria: list[str]) -> SiteWriter:
        return _JsonlWriter(out)


class _CsvWriter:
    def __init__(self, out: TextIO, criteria: list[str]) -> None:
        self.out = out
        self.formatter = CsvFormatter(criteria)
        out.write(self.formatter.header())

    def write(self, report: Report) -> None:
        self.out.write(self.formatter.row(report))


class CsvFormat(Format):
    """A run as a spreadsheet: one row per site (columns: see CsvFormatter)."""

    name = "csv"
    media_type = "text/csv; charset=utf-8"
    run = True
    streaming = True

    def write_run(self, out: TextIO, run: AuditRun, reports: Iterable[Report], options: RenderOptions) -> None:
        for line in render_csv(reports):
            out.write(line)

    def stream(self, out: TextIO, criteria: list[str]) -> SiteWriter:
        return _CsvWriter(out, criteria)


register_format(JsonlFormat())
register_format(CsvFormat())
