"""Report stage: a `Report` (or many) -> text for people or machines. Formatters are tiny."""

from pharmcheck.report.json import render_json, report_schema
from pharmcheck.report.text import render_text

__all__ = ["render_json", "render_text", "report_schema"]
