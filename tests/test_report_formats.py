"""One registry of output formats feeds `check --format`, `audit/export --format` and rendering."""

from __future__ import annotations

import io

import pytest

from pharmcheck.cli import build_parser
from pharmcheck.models import AuditRun, Report, ToolInfo, Verdict
from pharmcheck.report import FORMATS, Format, RenderOptions, get_format, run_formats, site_formats
from pharmcheck.report.format import register_format, spec_of


def _choices(argv: list[str]) -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    command = sub.choices[argv[0]]  # type: ignore[index]
    return list(next(a for a in command._actions if a.dest == "format").choices)


def test_cli_format_choices_come_from_the_registry() -> None:
    assert _choices(["check"]) == site_formats() == ["text", "json", "html", "markdown", "sarif"]
    assert _choices(["audit"]) == run_formats() == ["jsonl", "csv", "json", "html", "markdown", "sarif"]
    assert _choices(["export"]) == run_formats()


def test_every_format_declares_what_it_renders() -> None:
    for name, fmt in FORMATS.items():
        assert fmt.name == name and fmt.media_type
        assert fmt.site or fmt.run
        assert not fmt.streaming or fmt.run


def test_the_table_agrees_with_each_format_class_once_imported() -> None:
    # The CLI offers FORMATS' rows before any format module is imported: each row must be
    # what its module's class declares (name, module, media type, site/run/streaming).
    for name, spec in FORMATS.items():
        fmt = get_format(name)
        assert isinstance(fmt, Format) and type(fmt).__module__ == spec.module
        assert spec_of(fmt) == spec, name
        assert get_format(name) is fmt  # imported once, the same instance after


def test_a_format_that_disagrees_with_its_row_or_has_none_is_refused() -> None:
    class Drifted(Format):
        name = "text"
        media_type = "text/plain; charset=utf-8"
        site = True
        run = True  # the row says text renders no run

    class Unlisted(Format):
        name = "yaml"
        media_type = "application/yaml"
        site = True

    with pytest.raises(ValueError, match="not the FORMATS row"):
        register_format(Drifted())
    with pytest.raises(ValueError, match="not the FORMATS row"):
        register_format(Unlisted())
    with pytest.raises(ValueError, match="registered twice"):
        register_format(type(get_format("text"))())


def _report(url: str) -> Report:
    return Report(url=url, final_url=url, verdict=Verdict.rogue, score=3, summary="rogue: test",
                  tool=ToolInfo(name="pharmcheck", version="0", rules_version="r"))


def test_streamed_run_equals_the_stored_run_rendering() -> None:
    run = AuditRun(id=1, input="sites.txt", started_at="2026-01-01T00:00:00+00:00",
                   tool=ToolInfo(name="pharmcheck", version="0", rules_version="r"))
    reports = [_report("https://a.example/"), _report("https://b.example/")]
    for name in run_formats():
        fmt = get_format(name)
        if not fmt.streaming:
            continue
        streamed, stored = io.StringIO(), io.StringIO()
        writer = fmt.stream(streamed, list(reports[0].criteria))
        for r in reports:
            writer.write(r)
        fmt.write_run(stored, run, reports, RenderOptions())
        assert streamed.getvalue() == stored.getvalue(), name
        assert "https://b.example/" in streamed.getvalue()


def test_site_formats_render_the_verdict() -> None:
    report = _report("https://a.example/")
    for name in site_formats():
        out = get_format(name).render_site(report, RenderOptions())
        assert "rogue" in out.lower(), name
