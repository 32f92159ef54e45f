"""Report stage: a `Report` (or many) -> text for people or machines, behind one Format
interface (report/format.py). The formats are the rows of `FORMATS` there, each imported on
first use by `get_format`: importing this package imports none of them (a check renders one)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from pharmcheck.report.format import (
    FORMATS,
    Format,
    FormatSpec,
    RenderOptions,
    get_format,
    run_formats,
    site_formats,
)

if TYPE_CHECKING:
    from pharmcheck.report.json import render_json, report_schema
    from pharmcheck.report.text import render_text

# Names kept here for callers of `pharmcheck.report`, resolved on first access so that
# importing the package does not import their format modules.
_LAZY = {"render_json": "pharmcheck.report.json", "report_schema": "pharmcheck.report.json",
         "render_text": "pharmcheck.report.text"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FORMATS", "Format", "FormatSpec", "RenderOptions", "get_format", "render_json", "render_text",
           "report_schema", "run_formats", "site_formats"]
