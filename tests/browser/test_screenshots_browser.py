"""A site report with screenshots (--render --screenshots) in a real browser: it opens offline
with no console error and no request but its own file, the thumbnails are real images beside
the findings, and one opens full size and closes again, all without script."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_html_browser import Watched

from pharmcheck.check import CheckContext, check_site
from pharmcheck.models import FetchOptions, Report
from pharmcheck.report.html import render_site_html
from pharmcheck.ruleset import RuleSet
from render_sites import RenderSiteServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shot_report(browser: Any) -> Report:  # `browser`: skipped without Chromium, like the rest
    options = FetchOptions(allow_private=True, render="on", screenshots=True, max_pages=2, timeout=3.0)
    with RenderSiteServer() as shop:
        return check_site(shop.url, CheckContext(ruleset=RuleSet.load(), options=options))


def test_report_with_screenshots_opens_offline_and_quiet(browser: Any, shot_report: Report, tmp_path: Path,
                                                         artifacts: Path) -> None:
    assert all(p.screenshot is not None for p in shot_report.pages)
    path = tmp_path / "site.html"
    path.write_text(render_site_html(shot_report), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = Watched(context.new_page())
    try:
        watched.open(path)
        page = watched.page
        thumbs = page.locator("aside.shots figure.shot img")
        assert thumbs.count() == len(shot_report.pages)
        # Decoded images (a data: URL the CSP refused would have no natural size), shown small.
        sizes = thumbs.evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.getBoundingClientRect().width])")
        assert all(natural == 1280 and 0 < shown < 300 for natural, shown in sizes)
        # Beside the findings (to their right on a wide screen), and evidence links to its page's shot.
        aside = page.locator("aside.shots").bounding_box()
        findings = page.locator("section.criterion").first.bounding_box()
        assert aside["x"] > findings["x"] + findings["width"] - 1
        page.locator("ul.evidence a.to-shot").first.click()
        opened = page.evaluate("document.querySelector('figure.shot:target img').getBoundingClientRect().width")
        assert opened > 900  # full size (up to the window's width)
        page.screenshot(path=str(artifacts / "site-report-screenshot-open.png"))
        page.locator("figure.shot:target a.shot-close").click()
        assert page.evaluate("document.querySelector('figure.shot:target')") is None
        page.screenshot(path=str(artifacts / "site-report-screenshots.png"), full_page=True)
        watched.assert_quiet(path)
    finally:
        context.close()
