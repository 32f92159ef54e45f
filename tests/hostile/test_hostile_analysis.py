"""The site deadline bounds the whole check, analysis included: per-page work is capped, and
when the time runs out the pages analysed so far are judged, with one `deadline` error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hostile.hostile_check import options
from hostile.hostile_pages import jsonld_blocks_page, word_soup_site
from pharmcheck.check import CheckContext, assess, check_site, crawl, start_url
from pharmcheck.extract import MAX_JSONLD_ITEMS, extract_page
from pharmcheck.fetch import ArchiveIndex, Deadline
from pharmcheck.fetch.pagedir import write_warc
from pharmcheck.models import FetchError, PageInfo, Response, SiteFacts, Verdict
from pharmcheck.rules import evaluate_within
from pharmcheck.ruleset import RuleSet

BASE = "https://word-soup.example/"


class RunsOutAfter:
    """A deadline that expires after `checks` looks at the clock (one per rule and page)."""

    def __init__(self, checks: int) -> None:
        self.left = checks

    def expired(self) -> bool:
        self.left -= 1
        return self.left < 0


def _soup_site(tmp_path: Path, ruleset: RuleSet, pages: int) -> tuple[SiteFacts, list[PageInfo], list[FetchError]]:
    warc = word_soup_site(tmp_path / "soup.warc.gz", BASE, page_chars=20_000)  # pages of rule words
    ctx = CheckContext(ruleset=ruleset, options=options(site_timeout=120, max_pages=pages), archive=ArchiveIndex(warc))
    site, infos, errors = crawl(start_url(BASE), ctx)
    assert len(site.pages) == pages
    return site, infos, errors


def test_analysis_out_of_time_judges_the_pages_analysed_so_far(tmp_path: Path, ruleset: RuleSet) -> None:
    site, _, _ = _soup_site(tmp_path, ruleset, 10)
    page_rules = sum(1 for cr in ruleset.rules if cr.rule.scope == "page")
    evaluation = evaluate_within(ruleset.rules, site, RunsOutAfter(page_rules + 5))  # in the third page (the first is always analysed)
    assert not evaluation.complete and evaluation.pages_analysed == 2
    assert {ev.url for f in evaluation.findings for ev in f.evidence} <= {p.url for p in site.pages[:2]}
    assert evaluation.findings  # the two pages analysed are judged
    full = evaluate_within(ruleset.rules, site, None)
    assert full.complete and full.pages_analysed == 10


def test_out_of_time_judges_the_first_page_with_one_deadline_error(tmp_path: Path, ruleset: RuleSet) -> None:
    site, infos, errors = _soup_site(tmp_path, ruleset, 3)
    report = assess(site, infos, errors, ruleset, Deadline(-60))  # the time was up long ago
    assert report.verdict != Verdict.unreachable  # the first page read is always judged
    (deadline,) = [e for e in report.errors if e.code.value == "deadline"]
    assert "while analysing: judged the first 1 of 3 pages" in deadline.message
    assert len(report.pages) == 3  # every page read is still listed
    in_time = assess(site, infos, errors, ruleset, Deadline(120))
    assert in_time.verdict != Verdict.unreachable and not [e for e in in_time.errors if e.code.value == "deadline"]


def test_a_page_of_rule_words_is_checked_within_the_site_deadline(tmp_path: Path) -> None:
    # 2.3 MB of the rules' own words in one paragraph: every phrase fires everywhere and the
    # "sentence" around each match is the whole page. It once took minutes; a child with a
    # hard limit, so a regression fails instead of hanging the suite.
    warc = word_soup_site(tmp_path / "soup.warc.gz", BASE, page_chars=2_300_000)
    out = subprocess.run(
        [sys.executable, "-m", "pharmcheck", "check", BASE, "--replay", str(warc), "--max-pages", "3",
         "--site-timeout", "3", "--format", "json"],
        capture_output=True, text=True, timeout=180)
    assert out.returncode in (0, 1), out.stderr  # a verdict on the page read
    assert '"verdict"' in out.stdout


def test_tens_of_thousands_of_jsonld_blocks_are_capped(tmp_path: Path, ruleset: RuleSet) -> None:
    url = "https://jsonld.example/"
    body = jsonld_blocks_page(20_000)
    facts = extract_page(Response(url=url, final_url=url, status=200, content_type="text/html", body=body),
                         ruleset.drug_index)
    assert len(facts.jsonld) == MAX_JSONLD_ITEMS
    warc = write_warc(tmp_path / "jsonld.warc.gz", [(url, body, "text/html")])
    report = check_site(url, CheckContext(ruleset=ruleset, options=options(site_timeout=3.0),
                                          archive=ArchiveIndex(warc)))
    assert report.verdict != Verdict.unreachable
