"""JSON output: the Report model as it is (field names are a public contract)."""

from __future__ import annotations

import json

from pharmcheck.models import Report


def render_json(report: Report, indent: int | None = 2) -> str:
    return report.model_dump_json(indent=indent) + "\n"


def report_schema() -> str:
    return json.dumps(Report.model_json_schema(), indent=2) + "\n"
