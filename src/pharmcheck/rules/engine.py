"""Rule engine: compiled rules evaluated over a site's pages, producing findings with evidence.

Every matcher returns the evidence it found (page URL + words in context) or None. Text
matchers prefilter on the page's word set, so rules whose words are absent cost a set
lookup, not a regex scan (see benchmarks/analysis.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pharmcheck.models import Evidence, Finding, SiteFacts
from pharmcheck.rules.compile import CompiledRule
from pharmcheck.rules.matchers import Fired
from pharmcheck.rules.matchers.text import TextIndex
from pharmcheck.rules.page import MAX_EVIDENCE, Page
from pharmcheck.rules.schema import Rule


class Deadline(Protocol):
    """When the site's time is up (fetch.base.Deadline; rules need not know the fetch stage)."""

    def expired(self) -> bool: ...


def evaluate(rules: list[CompiledRule], site: SiteFacts) -> list[Finding]:
    """All findings for a site: page rules first, then site rules (which may use `fired`)."""
    return evaluate_within(rules, site, None).findings


@dataclass
class Evaluation:
    findings: list[Finding]
    pages_analysed: int  # the first pages of the site, in crawl order, that every page rule ran on
    complete: bool  # False: the deadline stopped the analysis


def evaluate_within(rules: list[CompiledRule], site: SiteFacts, deadline: Deadline | None) -> Evaluation:
    """Findings for a site, within `deadline`: pages are analysed one after the other (every
    page rule on a page, then the next page); when time runs out, the page being analysed is
    dropped and the site rules judge the pages analysed before it. The first page is always
    analysed (its work is capped: text, links, JSON-LD, evidence), so a site whose crawl used
    all the time still gets a verdict on what was read."""
    pages = [Page(p, site.domain, site.facts) for p in site.pages]
    page_rules = [cr for cr in rules if cr.rule.scope == "page"]
    evidence: dict[str, list[Evidence]] = {}
    analysed = 0
    complete = True
    for page in pages:
        on_this_page: dict[str, list[Evidence]] = {}
        # The primary text matchers in play on this page (the rule set's page-wide passes say
        # which): a rule they rule out is not called at all (most rules, on any page).
        index: TextIndex | None = None
        in_play: frozenset[int] = frozenset()
        for cr in page_rules:
            if analysed and deadline is not None and deadline.expired():
                complete = False
                break
            if not _in_language(page, cr.rule.languages):
                continue
            if cr.gate is not None and cr.index is not None:
                if cr.index is not index:
                    index, in_play = cr.index, cr.index.in_play(page)
                if cr.gate.isdisjoint(in_play):
                    continue
            ev = cr.matcher.on_page(page)
            if ev is None or (cr.unless and cr.vetoed(page)):
                continue
            on_this_page[cr.rule.id] = ev or [Evidence(url=page.facts.url, text=cr.rule.name)]
        if not complete:
            break
        for rule_id, ev in on_this_page.items():
            evidence.setdefault(rule_id, []).extend(ev)
        analysed += 1
    pages = pages[:analysed]
    findings: list[Finding] = []
    fired: Fired = {}
    for cr in page_rules:  # in rule order, as before
        if cr.rule.id in evidence:
            finding = _finding(cr.rule, evidence[cr.rule.id])
            findings.append(finding)
            fired[cr.rule.id] = finding.evidence
    for cr in rules:
        if cr.rule.scope != "site" or not pages:
            continue
        if analysed > 1 and deadline is not None and deadline.expired():
            complete = False
            break
        scoped = _in_languages(pages, cr.rule.languages)
        site_ev = cr.matcher.on_site(scoped, fired)
        if site_ev is None:
            continue
        if any(u.on_site(scoped, fired) is not None for u in cr.unless):
            continue
        finding = _finding(cr.rule, site_ev or [Evidence(url=site.final_url, text=cr.rule.name)])
        findings.append(finding)
        fired[cr.rule.id] = finding.evidence
    return Evaluation(findings, analysed, complete)


def _in_languages(pages: list[Page], languages: list[str]) -> list[Page]:
    """The pages a rule scoped to `languages` looks at: not those detected in another language."""
    if not languages:
        return pages
    return [p for p in pages if _in_language(p, languages)]


def _in_language(page: Page, languages: list[str]) -> bool:
    return not languages or not page.facts.language or page.facts.language in languages


def _finding(rule: Rule, evidence: list[Evidence]) -> Finding:
    # The same words on many pages (a footer, the nav) are one piece of evidence: keep the first page.
    seen: set[str] = set()
    unique: list[Evidence] = []
    for ev in evidence:
        if ev.text not in seen:
            seen.add(ev.text)
            unique.append(ev)
    return Finding(
        rule_id=rule.id,
        criterion=rule.criterion,
        name=rule.name,
        severity=rule.severity,
        confidence=rule.confidence,
        weight=rule.weight,
        message=rule.message or rule.name,
        evidence=unique[:MAX_EVIDENCE],
    )
