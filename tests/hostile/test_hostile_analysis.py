"""The site deadline bounds the whole check, analysis included: per-page work is capped, and
when the time runs out the pages analysed so far are judged, with one `deadline` error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hostile.hostile_check import options
from hostile.hostile_pages import jsonld_blocks_page, word_soup_site
from pharmcheck.check import CheckContext, assess, check_site, crawl, drug_index, start_url
from pharmcheck.extract import MAX_JSONLD_ITEMS, extract_page
from pharmcheck.fetch import ArchiveIndex, Deadline
from pharmcheck.fetch.pagedir import write_warc
from pharmcheck.models import Response, Verdict
from pharmcheck.rules import RuleSet

BASE = "https://word-soup.example/"


def test_analysis_out_of_time_judges_the_pages_analysed_so_far(tmp_path: Path, ruleset: RuleSet) -> None:
    warc = word_soup_site(tmp_path / "soup.warc.gz", BASE, page_chars=20_000)  # ten pages of rule words
    ctx = CheckContext(ruleset=ruleset, options=options(site_timeout=120, max_pages=10), archive=ArchiveIndex(warc))
    site, infos, errors = crawl(start_url(BASE), ctx)
    assert len(site.pages) == 10
    report = assess(site, infos, errors, ruleset, Deadline(-60))  # the time was up long ago
    (deadline,) = [e for e in report.errors if e.code.value == "deadline"]
    assert "while analysing: judged the first 1 of 10 pages" in deadline.message
    assert report.verdict != Verdict.unreachable  # what was read is judged
    assert {ev.url for f in report.findings for ev in f.evidence} <= {BASE}
    assert len(report.pages) == 10  # every page read is still listed


def test_nothing_analysed_is_unreachable_not_a_verdict(tmp_path: Path, ruleset: RuleSet) -> None:
    warc = word_soup_site(tmp_path / "soup.warc.gz", BASE, page_chars=2_000)
    ctx = CheckContext(ruleset=ruleset, options=options(site_timeout=120, max_pages=1), archive=ArchiveIndex(warc))
    site, infos, errors = crawl(start_url(BASE), ctx)
    site.pages = []  # the crawl read nothing usable
    assert assess(site, infos, errors, ruleset, Deadline(-60)).verdict == Verdict.unreachable


def test_a_page_of_rule_words_is_checked_within_the_site_deadline(tmp_path: Path) -> None:
    # 2.3 MB of the rules' own words in one paragraph: every phrase fires everywhere and the
    # "sentence" around each match is the whole page. It once took minutes; a child with a
    # hard limit, so a regression fails instead of hanging the suite.
    warc = word_soup_site(tmp_path / "soup.warc.gz", BASE, page_chars=2_300_000)
    out = subprocess.run(
        [sys.executable, "-m", "pharmcheck", "check", BASE, "--replay", str(warc), "--max-pages", "3",
         "--site-timeout", "3", "--format", "json"],
        capture_output=True, text=True, timeout=180)
    assert out.returncode in (0, 1), out.stderr
    assert '"verdict"' in out.stdout


def test_tens_of_thousands_of_jsonld_blocks_are_capped(tmp_path: Path, ruleset: RuleSet) -> None:
    url = "https://jsonld.example/"
    body = jsonld_blocks_page(20_000)
    facts = extract_page(Response(url=url, final_url=url, status=200, content_type="text/html", body=body),
                         drug_index(ruleset))
    assert len(facts.jsonld) == MAX_JSONLD_ITEMS
    warc = write_warc(tmp_path / "jsonld.warc.gz", [(url, body, "text/html")])
    report = check_site(url, CheckContext(ruleset=ruleset, options=options(site_timeout=3.0),
                                          archive=ArchiveIndex(warc)))
    assert report.verdict != Verdict.unreachable
