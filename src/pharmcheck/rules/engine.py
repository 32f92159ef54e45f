"""Rule engine: compiled rules evaluated over a site's pages, producing findings with evidence.

Every matcher returns the evidence it found (page URL + words in context) or None. Text
matchers prefilter on the page's word set, so rules whose words are absent cost a set
lookup, not a regex scan (see benchmarks/analysis.py).
"""

from __future__ import annotations

from pharmcheck.models import Evidence, Finding, SiteFacts
from pharmcheck.rules.compile import CompiledRule
from pharmcheck.rules.matchers import Fired
from pharmcheck.rules.page import MAX_EVIDENCE, Page
from pharmcheck.rules.schema import Rule


def evaluate(rules: list[CompiledRule], site: SiteFacts) -> list[Finding]:
    """All findings for a site: page rules first, then site rules (which may use `fired`)."""
    pages = [Page(p, site.domain) for p in site.pages]
    findings: list[Finding] = []
    fired: Fired = {}
    for cr in rules:
        if cr.rule.scope != "page":
            continue
        evidence: list[Evidence] = []
        for page in _in_languages(pages, cr.rule.languages):
            ev = cr.matcher.on_page(page)
            if ev is None or (cr.unless and cr.vetoed(page)):
                continue
            evidence.extend(ev or [Evidence(url=page.facts.url, text=cr.rule.name)])
        if evidence:
            finding = _finding(cr.rule, evidence)
            findings.append(finding)
            fired[cr.rule.id] = finding.evidence
    for cr in rules:
        if cr.rule.scope != "site":
            continue
        scoped = _in_languages(pages, cr.rule.languages)
        site_ev = cr.matcher.on_site(scoped, fired)
        if site_ev is None:
            continue
        if any(u.on_site(scoped, fired) is not None for u in cr.unless):
            continue
        finding = _finding(cr.rule, site_ev or [Evidence(url=site.final_url, text=cr.rule.name)])
        findings.append(finding)
        fired[cr.rule.id] = finding.evidence
    return findings


def _in_languages(pages: list[Page], languages: list[str]) -> list[Page]:
    """The pages a rule scoped to `languages` looks at: not those detected in another language."""
    if not languages:
        return pages
    return [p for p in pages if not p.facts.language or p.facts.language in languages]


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
