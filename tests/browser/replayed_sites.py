"""Made-up pharmacy sites (written for these tests, not copied from anywhere), captured
into WARC files and checked by replaying them, so the HTML report shows real Reports."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from pharmcheck import TOOL_NAME, __version__
from pharmcheck.check import CheckContext, check_site, tool_info
from pharmcheck.fetch import ArchiveIndex
from pharmcheck.fetch.pagedir import write_warc
from pharmcheck.models import AuditRun, FetchOptions, Report
from pharmcheck.ruleset import RuleSet

# What a hostile site's own text tries to run inside the report. Each payload would set
# window.__pwned or change the page title if the report ever let it execute.
HOSTILE_TITLE = '<script>window.__pwned=1;document.title="pwned"</script>"><img src=x onerror="window.__pwned=2">'
HOSTILE_TEXT = (
    'Buy tramadol 100mg <script>window.__pwned=3</script> online without a prescription, '
    '"><img src=x onerror="window.__pwned=4"> </script><!-- \u2028 javascript:window.__pwned=5 today. '
    'Pay with Bitcoin "><svg onload="window.__pwned=6"> and get 15% off your order.'
)


def _page(title: str, body: str, nav: list[str]) -> str:
    links = "".join(f'<a href="{path}">{path.strip("/") or "home"}</a> ' for path in nav)
    return f"<html><head><title>{title}</title></head><body><nav>{links}</nav><main>{body}</main></body></html>"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


NAV = ["/", "/about/", "/shop/", "/faq/"]
LEGIT = {
    "/": "Welcome to our pharmacy. Our pharmacists check every prescription before we dispense it.",
    "/about/": "Our pharmacy is registered with the General Pharmaceutical Council. Our superintendent pharmacist is "
               "Ann Example, registration 2099999. Call us on 0800 123 4567 or write to help@pharm.test",
    "/shop/": "Buy sildenafil 100mg - add to cart. A valid prescription is required for all prescription-only medicines.",
    "/faq/": "Ask your prescriber to send the prescription to us electronically. Track your order online.",
}
ROGUE = {
    "/": "Cheap meds, no questions asked. Buy Xanax 2mg bars online, in stock now.",
    "/shop/": "Buy tramadol 100mg online without a prescription, delivered overnight. Order oxycodone 30mg with fast shipping.",
    "/about/": "Get 10 bonus pills with every order! All orders ship in discreet packaging.",
    "/faq/": "Pay with Bitcoin and get 15% off your order. We accept Western Union and MoneyGram.",
}
THIN = {
    "/": "Order sildenafil online today. Free delivery.",
    "/about/": "Customer reviews",
    "/shop/": "Buy sildenafil 50mg - add to cart.",
    "/faq/": "Questions? Write to help@thin.test",
}
NEWS = {
    "/": "Posted by our health correspondent; published on Monday. News about medicines.",
    "/about/": "We regulate pharmacists, pharmacy technicians and pharmacies in Great Britain.",
    "/shop/": "Consumers should never order tramadol from unknown websites.",
    "/faq/": "Press release archive.",
}

# host -> pages (None: the site is not in the archive, so it is unreachable)
SITES: dict[str, dict[str, str] | None] = {
    "www.alder-pharmacy.test": LEGIT,
    "www.birch-chemist.test": LEGIT,
    "cedar-meds.test": ROGUE,
    "www.dogwood-rx.test": ROGUE,
    "elm-pills.test": THIN,
    "www.fir-health.test": THIN,
    "gazette-news.test": NEWS,
    "www.hazel-regulator.test": NEWS,
    "www.ivy-pharmacy.test": {**LEGIT, "/faq/": ROGUE["/faq/"]},
    "juniper-drugs.test": {**THIN, "/shop/": ROGUE["/shop/"]},
    "www.kapok-gone.test": None,
    "evil-pharmacy.test": {
        "/": HOSTILE_TEXT,
        "/about/": HOSTILE_TEXT + ' <a href="javascript:window.__pwned=7">about us</a>',
        "/shop/": HOSTILE_TEXT,
        "/faq/": "Questions? <a href=\"javascript:window.__pwned=8\">javascript:window.__pwned=8</a>",
    },
}
HOSTILE_HOST = "evil-pharmacy.test"


def write_capture(path: Path) -> Path:
    pages: list[tuple[str, bytes, str]] = []
    for host, site_pages in SITES.items():
        if site_pages is None:
            continue
        for url_path, text in site_pages.items():
            title = HOSTILE_TITLE if host == HOSTILE_HOST else host
            # Hostile text is written as escaped text, so it is what a visitor reads (and what
            # extraction keeps) rather than markup the page itself would run.
            body = text if host != HOSTILE_HOST or "<a href" in text else _escape(text)
            html = _page(_escape(title), body, NAV).encode("utf-8")
            pages.append((f"https://{host}{url_path}", html, "text/html; charset=utf-8"))
    return write_warc(path, pages)


def replayed_reports(directory: Path) -> tuple[AuditRun, list[Report]]:
    """Check every made-up site by replaying its capture; returns an AuditRun and the Reports."""
    warc = write_capture(directory / "sites.warc.gz")
    ruleset = RuleSet.load()
    ctx = CheckContext(ruleset=ruleset, options=FetchOptions(max_pages=6, retries=0), archive=ArchiveIndex(warc))
    reports = [check_site(f"https://{host}/", ctx) for host in SITES]
    run = AuditRun(
        id=7,
        input="sites.txt",
        arguments={"replay": str(warc)},
        tool=tool_info(ruleset),
        started_at=datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc).isoformat(),
        finished_at=datetime(2026, 11, 25, 9, 2, tzinfo=timezone.utc).isoformat(),
        total=len(SITES),
    )
    assert run.tool.name == TOOL_NAME and run.tool.version == __version__
    return run, reports
