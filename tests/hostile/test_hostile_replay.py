"""Hostile captures: a replayed record gets the body cap and decompression limits of a live
fetch, and is streamed from the file instead of read whole."""

from __future__ import annotations

import tracemalloc
from io import StringIO
from pathlib import Path

import pytest

from hostile.hostile_check import options
from hostile.hostile_warc import write_huge_record_warc
from pharmcheck.check import CheckContext, check_site
from pharmcheck.cli import main
from pharmcheck.fetch import ArchiveIndex
from pharmcheck.models import ExitCode, Verdict
from pharmcheck.ruleset import RuleSet

URL = "https://huge-record.example/"
MAX_BYTES = 1_000_000
RECORD_BYTES = 80_000_000  # scaled down from the 400 MB of the report; the bound is the same


@pytest.mark.parametrize("gzip_bomb", [False, True], ids=["plain", "gzip-encoded"])
def test_replayed_huge_record_costs_max_bytes_not_its_size(tmp_path: Path, ruleset: RuleSet, gzip_bomb: bool) -> None:
    warc = write_huge_record_warc(tmp_path / "huge.warc.gz", URL, RECORD_BYTES, gzip_bomb=gzip_bomb)
    archive = ArchiveIndex(warc)
    tracemalloc.start()
    try:
        report = check_site(URL, CheckContext(ruleset=ruleset, options=options(max_bytes=MAX_BYTES), archive=archive))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (page,) = [p for p in report.pages if p.url == URL]
    assert page.bytes == MAX_BYTES and page.truncated
    assert page.error is not None and page.error.value == "too_large"
    assert peak < 25 * MAX_BYTES  # a few copies of one capped page, nowhere near the record
    if not gzip_bomb:
        assert report.verdict != Verdict.unreachable  # what was read is still assessed


def test_max_bytes_has_an_upper_limit(capsys: pytest.CaptureFixture[str]) -> None:
    err = StringIO()
    code = main(["check", "shop.example", "--max-bytes", "60M"], stderr=err)
    assert code == ExitCode.USAGE
    assert "--max-bytes" in err.getvalue() and "at most 20M" in err.getvalue()
    assert capsys.readouterr().out == ""
