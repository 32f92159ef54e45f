"""`pharmcheck check URL --format html -o FILE`: a self-contained report of a replayed site."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pharmcheck.cli import main
from pharmcheck.fetch.pagedir import write_warc

PAGE = (b"<html><head><title>Cheap &lt;b&gt;meds&lt;/b&gt;</title></head><body><main>"
        b"Buy tramadol 100mg online without a prescription, delivered overnight. Pay with Bitcoin.</main></body></html>")


@pytest.fixture
def warc(tmp_path: Path) -> Path:
    return write_warc(tmp_path / "site.warc.gz", [("https://rogue-meds.example/", PAGE, "text/html; charset=utf-8")])


@pytest.mark.parametrize("live", [False, True])
def test_check_writes_a_self_contained_html_report(warc: Path, tmp_path: Path, live: bool) -> None:
    out = tmp_path / "site.html"
    argv = ["check", "https://rogue-meds.example/", "--replay", str(warc), "--format", "html", "-o", str(out)]
    code = main([*argv, "--live-links"] if live else argv, stderr=io.StringIO())
    assert code in (0, 1)  # checked (exit 1 when the verdict reaches --fail-on)
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert "Content-Security-Policy" in html
    assert "Cheap &lt;b&gt;meds&lt;/b&gt;" in html  # the page title, escaped
    if live:
        assert 'href="https://rogue-meds.example/"' in html
    else:
        assert "hxxps://rogue-meds[.]example/" in html and "rogue-meds.example" not in html
