"""The output-format interface and the one registry of formats that `check`, `audit`, `export`
and `report` all use.

A format renders one site (`check --format`), a whole audit run (`audit`/`export --format`),
or both; a streaming run format writes each site as it finishes, so an audit's output grows as
it goes and a run never has to be held in memory.

The registry is the `FORMATS` table below: each format's name, the module that defines it,
its media type and flags, in the order of the --format choices. It is read without importing
any format module (building the parser needs only the names); `get_format(name)` imports the
module on first use, so a check loads the one format it renders and not jinja2 for HTML.
Adding a format is one new module under report/ defining a `Format` subclass and calling
`register_format(...)` at import, plus one row in `FORMATS`, plus its tests;
`register_format` refuses a format that disagrees with its row (tests/test_report_formats.py
imports them all).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, ClassVar, Protocol, TextIO

from pharmcheck.models import AuditRun, Report


@dataclass(frozen=True)
class RenderOptions:
    live_links: bool = False  # HTML: clickable links to the audited sites instead of defanged ones
    # What a run report may show beyond the sites (HTML: the run's networks and its changes),
    # computed by the audit layer from the store.
    run_extras: Mapping[str, Any] = field(default_factory=dict)


class SiteWriter(Protocol):
    """Writes the reports of a run one at a time, as sites finish (streaming formats)."""

    def write(self, report: Report) -> None: ...


class Format:
    name: ClassVar[str]  # the value of --format
    media_type: ClassVar[str]  # e.g. for a web service or a file's content type
    site: ClassVar[bool] = False  # renders one site's report (`check`)
    run: ClassVar[bool] = False  # writes a whole run (`audit`, `export`, `report`)
    streaming: ClassVar[bool] = False  # a run is written a site at a time, as sites finish

    def render_site(self, report: Report, options: RenderOptions) -> str:
        raise NotImplementedError(f"{self.name} renders no single site")

    def write_run(self, out: TextIO, run: AuditRun, reports: Iterable[Report], options: RenderOptions) -> None:
        """A whole stored run; reports are consumed one at a time where the format allows."""
        raise NotImplementedError(f"{self.name} renders no run")

    def stream(self, out: TextIO, criteria: list[str]) -> SiteWriter:
        """A writer for a run in progress (streaming formats only); `criteria` fixes any columns."""
        raise NotImplementedError(f"{self.name} does not stream")


@dataclass(frozen=True)
class FormatSpec:
    """What the registry knows of a format without importing it: what its `Format` declares."""

    name: str
    module: str  # defines the Format subclass and registers it when imported
    media_type: str
    site: bool = False
    run: bool = False
    streaming: bool = False


_TABULAR = "pharmcheck.report.tabular"
# Every format, in the order of the --format choices and their help text.
FORMATS: dict[str, FormatSpec] = {spec.name: spec for spec in (
    FormatSpec("jsonl", _TABULAR, "application/jsonl", run=True, streaming=True),
    FormatSpec("csv", _TABULAR, "text/csv; charset=utf-8", run=True, streaming=True),
    FormatSpec("text", "pharmcheck.report.text", "text/plain; charset=utf-8", site=True),
    FormatSpec("json", "pharmcheck.report.json", "application/json", site=True, run=True),
    FormatSpec("html", "pharmcheck.report.html", "text/html; charset=utf-8", site=True, run=True),
    FormatSpec("markdown", "pharmcheck.report.markdown", "text/markdown; charset=utf-8", site=True, run=True),
    FormatSpec("sarif", "pharmcheck.report.sarif", "application/sarif+json", site=True, run=True),
)}

_LOADED: dict[str, Format] = {}  # the formats whose module has been imported


def spec_of(fmt: Format) -> FormatSpec:
    """The row of `FORMATS` that a format's class declares."""
    return FormatSpec(fmt.name, type(fmt).__module__, fmt.media_type, fmt.site, fmt.run, fmt.streaming)


def register_format(fmt: Format) -> Format:
    """Called by a format's module as it is imported: `fmt` is what `get_format` returns."""
    # The table is what the CLI offers before the module is imported: the two must agree.
    if FORMATS.get(fmt.name) != spec_of(fmt):
        raise ValueError(f"format {fmt.name!r} is {spec_of(fmt)}, not the FORMATS row {FORMATS.get(fmt.name)}")
    if fmt.name in _LOADED:
        raise ValueError(f"format {fmt.name!r} registered twice")
    _LOADED[fmt.name] = fmt
    return fmt


def get_format(name: str) -> Format:
    """The format called `name` (KeyError if none), its module imported on first use."""
    if name not in _LOADED:
        import_module(FORMATS[name].module)
    return _LOADED[name]


def site_formats() -> list[str]:
    """Names of the formats `check` offers, in registry order."""
    return [name for name, spec in FORMATS.items() if spec.site]


def run_formats() -> list[str]:
    """Names of the formats `audit` and `export` offer, in registry order."""
    return [name for name, spec in FORMATS.items() if spec.run]
