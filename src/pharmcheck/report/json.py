"""JSON output: the Report model as it is (field names are a public contract)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from pharmcheck import TOOL_URL
from pharmcheck.models import SCHEMA_VERSION, AuditRun, Report
from pharmcheck.report.format import Format, RenderOptions, register_format


def render_json(report: Report, indent: int | None = 2) -> str:
    return report.model_dump_json(indent=indent) + "\n"


SCHEMA_ID = f"{TOOL_URL}/schema/report-{SCHEMA_VERSION}.json"


def report_schema() -> str:
    """JSON Schema (2020-12) of `--format json`: what is written, so in serialization mode."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **Report.model_json_schema(mode="serialization"),
    }
    return json.dumps(schema, indent=2) + "\n"


class JsonFormat(Format):
    """One site: the report as it is (`pharmcheck schema`); a run: `{"run": ..., "reports": [...]}`."""

    name = "json"
    media_type = "application/json"
    site = True
    run = True

    def render_site(self, report: Report, options: RenderOptions) -> str:
        return render_json(report)

    def write_run(self, out: TextIO, run: AuditRun, reports: Iterable[Report], options: RenderOptions) -> None:
        from pharmcheck.report.tabular import json_document

        out.writelines(json_document(run, reports))


register_format(JsonFormat())
