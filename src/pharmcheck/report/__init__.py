"""Report stage: a `Report` (or many) -> text for people or machines, behind one Format
interface (report/format.py). Importing this package registers the formats below, in this
order (the order of the --format choices)."""

# isort: off
from pharmcheck.report import tabular  # noqa: F401  (jsonl, csv)
from pharmcheck.report import text  # noqa: F401
from pharmcheck.report import json  # noqa: F401
from pharmcheck.report import html  # noqa: F401
from pharmcheck.report import markdown  # noqa: F401
from pharmcheck.report import sarif  # noqa: F401
# isort: on
from pharmcheck.report.format import FORMATS, Format, RenderOptions, get_format, run_formats, site_formats
from pharmcheck.report.json import render_json, report_schema
from pharmcheck.report.text import render_text

__all__ = ["FORMATS", "Format", "RenderOptions", "get_format", "render_json", "render_text", "report_schema",
           "run_formats", "site_formats"]
