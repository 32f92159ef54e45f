"""One site, end to end: URL + options + rules -> Report.

`check_site` is a pure function of its inputs (plus the network, or an archive): `audit`
calls exactly this for every site, so a batch report equals the single-site report.
"""

from __future__ import annotations

import logging
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from pharmcheck import TOOL_NAME, __version__
from pharmcheck.errors import UsageError
from pharmcheck.extract import extract_page
from pharmcheck.extract.identifiers import certificate_identifiers, fact_identifiers, merge_site_identifiers
from pharmcheck.extract.template import site_signature
from pharmcheck.facts import FactCache, FactEnv, FactTarget, MemoryFactCache, collect_facts
from pharmcheck.fetch import (
    ArchiveIndex,
    CrawlFrontier,
    Deadline,
    SiteFetcher,
    WarcRecorder,
    make_transport,
)
from pharmcheck.fetch.render import PageReader, PageView
from pharmcheck.judge.verdict import judge_site
from pharmcheck.models import (
    ErrorCode,
    FetchError,
    FetchOptions,
    PageFacts,
    PageInfo,
    Report,
    Response,
    SiteFacts,
    ToolInfo,
)
from pharmcheck.rules import evaluate_within
from pharmcheck.ruleset import RuleSet
from pharmcheck.score import score_site
from pharmcheck.urls import InvalidURL, clip, host_of, origin_of, registrable_domain, site_url

if TYPE_CHECKING:  # fetch/live.py (requests, urllib3): a replayed check never fetches live
    from pharmcheck.fetch.live import HostLimiter

_log = logging.getLogger("pharmcheck")


class SiteAnalysis(Protocol):
    """The CPU work of checking one site: extracting each page read, then judging the site."""

    def extract(self, resp: Response) -> PageFacts: ...

    def assess(self, site: SiteFacts, infos: list[PageInfo], errors: list[FetchError],
               deadline: Deadline) -> Report: ...

    def close(self) -> None: ...


class Analyst(Protocol):
    """Where the sites' analysis runs: here (`check`), or in other processes (audit/analysis.py)."""

    def site(self, ruleset: RuleSet) -> SiteAnalysis: ...


class LocalAnalysis:
    """Analysis on the thread that fetched."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset

    def extract(self, resp: Response) -> PageFacts:
        return extract_page(resp, self.ruleset.drug_index)

    def assess(self, site: SiteFacts, infos: list[PageInfo], errors: list[FetchError],
               deadline: Deadline) -> Report:
        return assess(site, infos, errors, self.ruleset, deadline)

    def close(self) -> None:
        pass


class LocalAnalyst:
    def site(self, ruleset: RuleSet) -> SiteAnalysis:
        return LocalAnalysis(ruleset)


@dataclass(frozen=True)
class CheckContext:
    """What stays the same across the sites of a run."""

    ruleset: RuleSet
    options: FetchOptions = field(default_factory=FetchOptions)
    # Told before each page is fetched: (its URL, pages fetched so far). For progress displays.
    on_fetch: Callable[[str, int], None] | None = None
    archive: ArchiveIndex | None = None
    limiter: HostLimiter | None = None
    # Site facts (RDAP...) kept between sites: one lookup per registrable domain per run (the
    # audit passes its store's cache, which also lasts between runs).
    fact_cache: FactCache = field(default_factory=MemoryFactCache)
    analyst: Analyst = field(default_factory=LocalAnalyst)


def tool_info(ruleset: RuleSet) -> ToolInfo:
    return ToolInfo(name=TOOL_NAME, version=__version__, rules_version=ruleset.version)


def start_url(url: str) -> str:
    """Normalise a user-given URL or bare domain; UsageError if it is not an http(s) URL."""
    try:
        return site_url(url)
    except InvalidURL as exc:
        raise UsageError(f"invalid URL {clip(url)}: {exc}") from exc


def _page_info(resp: Response, title: str | None = None, language: str | None = None) -> PageInfo:
    return PageInfo(
        url=resp.url,
        final_url=resp.final_url if resp.final_url != resp.url else None,
        status=resp.status,
        content_type=resp.content_type.split(";")[0].strip(),
        bytes=len(resp.body),
        truncated=resp.truncated,
        redirects=resp.redirects,
        title=title,
        error=resp.error.code if resp.error else None,
        language=language or None,
    )


# A page cut short by the clock must have at least this much to be read: a few dripped bytes
# are not a page, and must not turn "could not assess" into a verdict.
MIN_CUT_SHORT_BYTES = 1024


def _cut_short(resp: Response) -> bool:
    """A page cut at --max-bytes or by the clock: what arrived is still read, marked truncated."""
    cut = (ErrorCode.too_large, ErrorCode.deadline, ErrorCode.timeout, ErrorCode.connection)
    return (
        resp.truncated
        and resp.error is not None
        and resp.error.code in cut
        and len(resp.body) >= (1 if resp.error.code == ErrorCode.too_large else MIN_CUT_SHORT_BYTES)
    )


def crawl(url: str, ctx: CheckContext, save_warc: str | None = None, deadline: Deadline | None = None,
          analysis: SiteAnalysis | None = None) -> tuple[SiteFacts, list[PageInfo], list[FetchError]]:
    """Fetch and extract (by `analysis`, default here) up to `max_pages` pages of the site at
    `url`, within `deadline` (default: --site-timeout from now)."""
    options = ctx.options
    extract = (analysis or LocalAnalysis(ctx.ruleset)).extract
    index = ctx.ruleset.drug_index
    transport = make_transport(options, ctx.archive, save_warc, ctx.limiter)
    fetcher = SiteFetcher(transport, options, url, deadline)
    reader = PageReader(options, fetcher.deadline, ctx.archive,
                        transport if isinstance(transport, WarcRecorder) else None, ctx.limiter)
    pages: list[PageFacts] = []
    infos: list[PageInfo] = []
    errors: list[FetchError] = []
    try:
        frontier = CrawlFrontier(url, options.max_pages, index.words)
        if ctx.on_fetch is not None:
            ctx.on_fetch(url, 0)
        first = fetcher.get(url)  # robots.txt is checked there, for every page
        if first.error is not None and first.error.code == ErrorCode.robots:
            errors.append(first.error)  # the start page is off limits: nothing to assess
            return SiteFacts(url=url, final_url=url, domain=registrable_domain(host_of(url)), host=host_of(url)), infos, errors
        final_url = first.final_url
        if not frontier.same_site(final_url):
            # The start URL sends us to another site (search-redirection spam does this);
            # that site is what a visitor gets, so it is the one we assess.
            frontier = CrawlFrontier(final_url, options.max_pages, index.words)
        redirects = first.redirects
        resp: Response | None = first
        certificate = b""
        view: PageView | None = None
        while resp is not None:
            frontier.mark_visited(resp.url, resp.final_url)
            if not certificate and resp.certificate and frontier.same_site(resp.final_url):
                certificate = resp.certificate
            title = language = None
            if resp.error:
                errors.append(resp.error)
            if resp.error and not _cut_short(resp):
                pass  # nothing usable arrived
            elif resp.status >= 400:
                errors.append(FetchError(code=ErrorCode.http_status, url=resp.url, message=f"HTTP {resp.status}"))
            elif not resp.is_html:
                pass  # recorded, not parsed
            elif frontier.same_site(resp.final_url):
                view = reader.read(resp, extract)
                facts = view.facts
                errors.extend(view.errors)
                pages.append(facts)
                title, language = facts.title, facts.language
                frontier.add_links((link.url, link.text) for link in facts.links)
            infos.append(_page_info(resp, title, language))
            if view is not None:
                infos[-1].rendered, infos[-1].screenshot = view.rendered, view.screenshot
                view = None
            if fetcher.deadline.expired():
                if not any(e.code == ErrorCode.deadline for e in errors):  # a page may have said so already
                    errors.append(FetchError(code=ErrorCode.deadline, url=url,
                                             message=f"site deadline of {options.site_timeout:g} s reached; analysed what was fetched"))
                break
            next_url = frontier.next_url()
            if next_url and ctx.on_fetch is not None:
                ctx.on_fetch(next_url, len(infos))
            resp = fetcher.get(next_url) if next_url else None
        domain = registrable_domain(host_of(final_url))
        target = FactTarget(url=final_url, host=host_of(final_url), domain=domain, certificate=certificate,
                            tls_refused=any(e.code == ErrorCode.tls for e in errors), links=_offsite_links(pages, domain))
        env = FactEnv(options=options, cache=ctx.fact_cache, limiter=ctx.limiter)
        site_facts = collect_facts(target, fetcher.deadline, env, ctx.archive,
                                   transport if isinstance(transport, WarcRecorder) else None)
        return SiteFacts(url=url, final_url=final_url, domain=domain, host=host_of(final_url), pages=pages, redirects=redirects,
                         facts=site_facts), infos, errors
    finally:
        reader.close()
        fetcher.close()


MAX_FACT_LINKS = 500  # off-site links handed to the site-fact providers (seals at their issuer)


def _offsite_links(pages: list[PageFacts], domain: str) -> tuple[str, ...]:
    links: dict[str, None] = {}
    for page in pages:
        # Most links share the page's scheme and authority, hence its host: no URL parsing.
        own = _onsite_prefix(page.url, domain)
        for link in page.links:
            url = link.url
            if own and url.startswith(own):
                continue
            if url.startswith("http") and domain not in host_of(url):
                links.setdefault(url, None)
                if len(links) >= MAX_FACT_LINKS:
                    return tuple(links)
    return tuple(links)


def _onsite_prefix(page_url: str, domain: str) -> str:
    """The `scheme://authority/` of a page on the site's domain: links starting with it are on
    the site. "" if the page is not (then every link is looked at)."""
    try:
        if page_url.startswith("http") and domain in host_of(page_url):
            return origin_of(page_url) + "/"
    except ValueError:
        pass
    return ""


# Analysis may run this long past the site deadline: a crawl that used all the time (a
# drip-fed last page) still has its pages judged, and the whole check stays within the
# deadline plus this (pages are capped, so a page's rules take well under it).
ANALYSIS_GRACE = 1.5


class _AnalysisTime:
    def __init__(self, deadline: Deadline) -> None:
        self.end = deadline.end + ANALYSIS_GRACE

    def expired(self) -> bool:
        return time.monotonic() >= self.end


def assess(site: SiteFacts, infos: list[PageInfo], errors: list[FetchError], ruleset: RuleSet,
           deadline: Deadline | None = None) -> Report:
    """Rules and score over what was crawled: no I/O; deterministic unless `deadline` (the
    site's, shared with the crawl) runs out first: then the pages analysed before it are
    judged, with a `deadline` error saying how many (`unreachable` if none)."""
    evaluation = evaluate_within(ruleset.rules, site, _AnalysisTime(deadline) if deadline else None)
    findings = evaluation.findings
    if not evaluation.complete:
        errors = [e for e in errors if e.code != ErrorCode.deadline]  # one deadline error, the whole story
        seconds = f" of {deadline.seconds:g} s" if isinstance(deadline, Deadline) else ""
        errors.append(FetchError(
            code=ErrorCode.deadline, url=site.url,
            message=f"site deadline{seconds} reached while analysing: judged the first "
                    f"{evaluation.pages_analysed} of {len(site.pages)} pages read"))
    result = score_site(findings, ruleset.scoring, assessed=evaluation.pages_analysed > 0)
    judgement = judge_site(ruleset.model, site, findings, result, ruleset.data.lists) if evaluation.pages_analysed else None
    certificate = site.fact("tls")
    identifiers = merge_site_identifiers(
        [certificate_identifiers(certificate.raw, site.final_url) if certificate and certificate.raw else [],
         fact_identifiers(site.facts, site.final_url),
         *(page.identifiers for page in site.pages)])
    return Report(
        url=site.url,
        final_url=site.final_url,
        verdict=judgement.verdict if judgement else result.verdict,
        score=judgement.score if judgement else result.score,
        summary=judgement.summary if judgement else result.summary,
        confidence=judgement.confidence if judgement else None,
        contributions=judgement.contributions if judgement else [],
        probabilities=judgement.probabilities if judgement else {},
        criteria=result.criteria,
        findings=findings,
        pages=infos,
        errors=errors,
        tool=tool_info(ruleset),
        identifiers=identifiers,
        template=site_signature(page.shingles for page in site.pages),
        facts=site.facts,
    )


def check_site(url: str, ctx: CheckContext, save_warc: str | None = None) -> Report:
    """Check one site. Never raises on anything a site does; UsageError for a bad URL."""
    started = time.monotonic()
    checked_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    target = start_url(url)
    _log.info("checking %s", target)
    deadline = Deadline(ctx.options.site_timeout)  # one for the whole check: fetching and analysis
    analysis = ctx.analyst.site(ctx.ruleset)
    try:
        site, infos, errors = crawl(target, ctx, save_warc, deadline, analysis)
        report = analysis.assess(site, infos, errors, deadline)
    finally:
        analysis.close()
    report.checked_at = checked_at
    report.duration = round(time.monotonic() - started, 3)
    _log.info("%s: %s (score %s) from %d page(s) in %.1fs", target, report.verdict.value,
              "none" if report.score is None else report.score, len(site.pages), report.duration)
    return report


class _CallableModule(types.ModuleType):
    """`pharmcheck.check` is this module once it is imported, and also the Python API's
    `pharmcheck.check(url, **options)`: calling the module runs `pharmcheck.api.check`."""

    def __call__(self, url: str, **options: Any) -> Report:
        from pharmcheck.api import check

        return check(url, **options)


sys.modules[__name__].__class__ = _CallableModule
