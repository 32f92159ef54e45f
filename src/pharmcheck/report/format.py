"""The output-format interface and the one registry of formats that `check`, `audit`, `export`
and `report` all use.

A format renders one site (`check --format`), a whole audit run (`audit`/`export --format`),
or both; a streaming run format writes each site as it finishes, so an audit's output grows as
it goes and a run never has to be held in memory. Adding a format is one new module under
report/ defining a `Format` subclass and calling `register_format(...)`, imported in
report/__init__.py, plus its tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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


FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    if fmt.name in FORMATS:
        raise ValueError(f"format {fmt.name!r} registered twice")
    FORMATS[fmt.name] = fmt
    return fmt


def get_format(name: str) -> Format:
    return FORMATS[name]


def site_formats() -> list[str]:
    """Names of the formats `check` offers, in registry order."""
    return [name for name, fmt in FORMATS.items() if fmt.site]


def run_formats() -> list[str]:
    """Names of the formats `audit` and `export` offer, in registry order."""
    return [name for name, fmt in FORMATS.items() if fmt.run]
