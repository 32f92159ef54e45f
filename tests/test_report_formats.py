"""One registry of output formats feeds `check --format`, `audit/export --format` and rendering."""

from __future__ import annotations

import io

from pharmcheck.cli import build_parser
from pharmcheck.models import AuditRun, Report, ToolInfo, Verdict
from pharmcheck.report import FORMATS, RenderOptions, get_format, run_formats, site_formats


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
