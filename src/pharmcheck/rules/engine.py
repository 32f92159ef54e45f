"""Rule engine: compiled matchers evaluated over a site's pages, producing findings with evidence.

Every matcher returns the evidence it found (page URL + words in context) or None. Text
matchers prefilter on the page's word set, so rules whose words are absent cost a set
lookup, not a regex scan (see benchmarks/analysis.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import unquote

from pharmcheck.models import Evidence, Finding, PageFacts, SiteFacts
from pharmcheck.rules.schema import Matcher, Rule, RuleSetData, SealIssuer
from pharmcheck.urls import registrable_domain

MAX_EVIDENCE = 5
CONTEXT_CHARS = 200
_TOKEN = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"[.!?;](?:\s|$)|\n")


# --- page context --------------------------------------------------------------------------


@dataclass
class Page:
    """A page as the matchers see it, with lazily computed views shared by all rules."""

    facts: PageFacts
    site_domain: str

    @cached_property
    def url_text(self) -> str:
        return unquote(self.facts.url).replace("-", " ").replace("_", " ").replace("/", " ")

    @cached_property
    def tokens(self) -> frozenset[str]:
        f = self.facts
        return frozenset(_TOKEN.findall(f"{f.title}\n{f.text}\n{self.url_text}".lower()))

    def field_text(self, name: str) -> str:
        if name == "title":
            return self.facts.title
        if name == "url":
            return self.url_text
        if name == "text":
            return self.facts.text
        return self.all_text

    @cached_property
    def all_text(self) -> str:
        return f"{self.facts.title}\n{self.facts.text}"


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    left = line_start
    for m in _SENTENCE_END.finditer(text, line_start, start):
        left = m.end()
    m2 = _SENTENCE_END.search(text, end, line_end) if end < line_end else None
    return left, (m2.start() + 1 if m2 else line_end)


def context(text: str, start: int, end: int, limit: int = CONTEXT_CHARS) -> str:
    """The sentence around text[start:end], cut to at most `limit` characters around the match."""
    left, right = _sentence_bounds(text, start, end)
    lo, hi = left, right
    if hi - lo > limit:
        room = max(0, limit - (end - start))
        lo = max(left, start - room // 2)
        hi = min(right, max(end, lo + limit))
    snippet = text[lo:hi].strip()
    return ("…" if lo > left else "") + snippet + ("…" if hi < right else "")


def window(text: str, start: int, end: int, kind: str | int) -> str:
    """The text an `unless` matcher looks at around a match."""
    if kind == "page":
        return text
    if isinstance(kind, int):
        return text[max(0, start - kind) : end + kind]
    if kind == "line":
        left = text.rfind("\n", 0, start) + 1
        right = text.find("\n", end)
        return text[left : len(text) if right < 0 else right]
    left, right = _sentence_bounds(text, start, end)
    return text[left:right]


# --- compiled matchers ---------------------------------------------------------------------


class Compiled:
    """A matcher ready to run: returns evidence, or None when it does not match."""

    def on_page(self, page: Page) -> list[Evidence] | None:
        raise NotImplementedError

    def on_site(self, pages: list[Page], fired: set[str]) -> list[Evidence] | None:
        """Site scope: a leaf matches if it matches on any page; combinators combine that."""
        found: list[Evidence] = []
        for page in pages:
            ev = self.on_page(page)
            if ev is not None:
                found.extend(ev)
        return found if found else None


def phrase_pattern(phrase: str) -> str:
    words = phrase.strip().split()
    body = r"\s+".join(re.escape(w) for w in words)
    return rf"(?<!\w){body}(?!\w)"


@dataclass
class TextC(Compiled):
    pattern: re.Pattern[str] | None
    phrase_tokens: list[frozenset[str]]  # per phrase: all its words must be on the page
    anchors: frozenset[str]
    has_regex: bool
    source_field: str
    window_kind: str | int
    unless: list[TextC] = field(default_factory=list)  # set by the rule for primary text matchers

    def _candidate(self, page: Page) -> bool:
        tokens = page.tokens
        if self.has_regex:
            return not self.anchors or not self.anchors.isdisjoint(tokens)
        return any(t <= tokens for t in self.phrase_tokens)

    def on_page(self, page: Page) -> list[Evidence] | None:
        if self.pattern is None or not self._candidate(page):
            return None
        text = page.field_text(self.source_field)
        found: list[Evidence] = []
        for m in self.pattern.finditer(text):
            if self.unless and any(u.matches_in(window(text, m.start(), m.end(), u.window_kind)) for u in self.unless):
                continue
            found.append(Evidence(url=page.facts.url, text=context(text, m.start(), m.end())))
            if len(found) >= MAX_EVIDENCE:
                break
        return found or None

    def matches_in(self, text: str) -> bool:
        return self.pattern is not None and self.pattern.search(text) is not None


@dataclass
class LinkC(Compiled):
    href: re.Pattern[str] | None
    text: re.Pattern[str] | None
    domains: frozenset[str]
    offsite: bool | None

    def on_page(self, page: Page) -> list[Evidence] | None:
        found: list[Evidence] = []
        for link in page.facts.links:
            if self.href is not None and not self.href.search(link.url):
                continue
            if self.text is not None and not self.text.search(link.text):
                continue
            if self.domains or self.offsite is not None:
                domain = registrable_domain(link.url) if link.url.startswith("http") else ""
                if self.domains and domain not in self.domains:
                    continue
                if self.offsite is not None and (domain != page.site_domain) != self.offsite:
                    continue
            found.append(Evidence(url=page.facts.url, text=f"link “{link.text[:80]}” → {link.url[:110]}"))
            if len(found) >= MAX_EVIDENCE:
                break
        return found or None


@dataclass
class ImageC(Compiled):
    words: re.Pattern[str] | None
    linked: bool | None
    link_domains: frozenset[str]

    def on_page(self, page: Page) -> list[Evidence] | None:
        found: list[Evidence] = []
        for img in page.facts.images:
            label = f"{img.src} {img.alt} {img.title}"
            if self.words is not None and not self.words.search(label.replace("-", " ").replace("_", " ")):
                continue
            if self.linked is not None and (img.link is not None) != self.linked:
                continue
            if self.link_domains and (img.link is None or registrable_domain(img.link) not in self.link_domains):
                continue
            found.append(Evidence(url=page.facts.url, text=f"image alt=“{img.alt[:60]}” src={img.src[:100]}"
                                  + (f" linked to {img.link[:100]}" if img.link else "")))
            if len(found) >= MAX_EVIDENCE:
                break
        return found or None


@dataclass
class FormC(Compiled):
    file_upload: bool | None
    field_re: re.Pattern[str] | None

    def on_page(self, page: Page) -> list[Evidence] | None:
        found: list[Evidence] = []
        for form in page.facts.forms:
            if self.file_upload is not None and form.file_upload != self.file_upload:
                continue
            if self.field_re is not None and not any(self.field_re.search(f) for f in form.fields):
                continue
            found.append(Evidence(url=page.facts.url, text=f"form to {form.action[:100]} with fields {', '.join(form.fields[:6])[:90]}"))
        return found[:MAX_EVIDENCE] or None


@dataclass
class JsonLdC(Compiled):
    types: frozenset[str]
    has: list[str]

    def on_page(self, page: Page) -> list[Evidence] | None:
        found: list[Evidence] = []
        for item in page.facts.jsonld:
            raw_type = item.get("@type", "")
            types = {str(t) for t in raw_type} if isinstance(raw_type, list) else {str(raw_type)}
            if self.types and self.types.isdisjoint(types):
                continue
            if any(key not in item for key in self.has):
                continue
            found.append(Evidence(url=page.facts.url, text=f"JSON-LD {'/'.join(sorted(types))}: {str(item)[:140]}"))
        return found[:MAX_EVIDENCE] or None


@dataclass
class DrugC(Compiled):
    schedules: frozenset[str]
    categories: frozenset[str]
    minimum: int

    def _names(self, page: Page) -> list[str]:
        return [
            d.name
            for d in page.facts.drugs
            if (not self.schedules or d.schedule in self.schedules) and (not self.categories or d.category in self.categories)
        ]

    def on_page(self, page: Page) -> list[Evidence] | None:
        names = self._names(page)
        if len(names) < self.minimum:
            return None
        return [Evidence(url=page.facts.url, text="drugs named: " + ", ".join(names[:12]))]

    def on_site(self, pages: list[Page], fired: set[str]) -> list[Evidence] | None:
        per_page = [(p, self._names(p)) for p in pages]
        distinct = {n for _, names in per_page for n in names}
        if len(distinct) < self.minimum:
            return None
        return [Evidence(url=p.facts.url, text="drugs named: " + ", ".join(names[:12])) for p, names in per_page if names][:MAX_EVIDENCE]


@dataclass
class PriceC(Compiled):
    minimum: int

    def on_page(self, page: Page) -> list[Evidence] | None:
        prices = page.facts.prices
        if len(prices) < self.minimum:
            return None
        return [Evidence(url=page.facts.url, text="prices: " + ", ".join(p.text for p in prices[:8]))]


@dataclass
class DomainC(Compiled):
    tlds: frozenset[str]
    host_re: re.Pattern[str] | None

    def on_page(self, page: Page) -> list[Evidence] | None:
        host = page.facts.url.split("://", 1)[-1].split("/", 1)[0].split(":")[0].lower()
        if self.tlds and host.rsplit(".", 1)[-1] not in self.tlds:
            return None
        if self.host_re is not None and not self.host_re.search(host):
            return None
        return [Evidence(url=page.facts.url, text=f"domain {host}")]


@dataclass
class SealC(Compiled):
    issuers: list[tuple[SealIssuer, re.Pattern[str], re.Pattern[str] | None]]
    outcome: str

    def on_page(self, page: Page) -> list[Evidence] | None:
        found: list[Evidence] = []
        for issuer, words, verify in self.issuers:
            for label, link in self._claims(page, words):
                outcome = judge_seal(issuer, verify, link, page.site_domain)
                if outcome == self.outcome:
                    where = f" linking to {link[:110]}" if link else " with no link to its issuer"
                    found.append(Evidence(url=page.facts.url, text=f"{issuer.name} seal “{label[:60]}”{where}"))
        return found[:MAX_EVIDENCE] or None

    @staticmethod
    def _claims(page: Page, words: re.Pattern[str]) -> Iterable[tuple[str, str | None]]:
        for img in page.facts.images:
            label = f"{img.alt} {img.title} {img.src}".replace("-", " ").replace("_", " ")
            if words.search(label):
                yield (img.alt or img.title or img.src), img.link
        for link in page.facts.links:
            if words.search(link.text) or words.search(link.url.replace("-", " ").replace("_", " ")):
                yield link.text or link.url, link.url


def judge_seal(issuer: SealIssuer, verify: re.Pattern[str] | None, link: str | None, site_domain: str) -> str:
    """verified: links to the issuer's check for this site; mismatch: links to the issuer (or a
    look-alike of it) for another site; unverified: a seal with no working link to its issuer."""
    if not link or not link.startswith("http"):
        return "unverified"
    domain = registrable_domain(link)
    if domain == site_domain:
        return "unverified"  # a seal linking to the site itself proves nothing
    if domain in issuer.domains:
        if verify is None:
            return "verified"
        m = verify.search(unquote(link).lower())
        if m is None:
            return "unverified"
        checked = m.groupdict().get("domain")
        if checked is None:
            return "verified"
        checked = registrable_domain(checked.lower()).removeprefix("www.")
        return "verified" if checked == site_domain.removeprefix("www.") else "mismatch"
    issuer_names = {d.split(".")[0] for d in issuer.domains}
    if any(name in domain for name in issuer_names):
        return "mismatch"  # look-alike issuer domain, e.g. legitscript-verify.example
    return "unverified"


@dataclass
class FiredC(Compiled):
    ids: frozenset[str]

    def on_page(self, page: Page) -> list[Evidence] | None:
        return None

    def on_site(self, pages: list[Page], fired: set[str]) -> list[Evidence] | None:
        return [] if self.ids <= fired else None


@dataclass
class AllC(Compiled):
    parts: list[Compiled]

    def on_page(self, page: Page) -> list[Evidence] | None:
        out: list[Evidence] = []
        for part in self.parts:
            ev = part.on_page(page)
            if ev is None:
                return None
            out.extend(ev)
        return out

    def on_site(self, pages: list[Page], fired: set[str]) -> list[Evidence] | None:
        out: list[Evidence] = []
        for part in self.parts:
            ev = part.on_site(pages, fired)
            if ev is None:
                return None
            out.extend(ev)
        return out


@dataclass
class AnyC(Compiled):
    parts: list[Compiled]

    def on_page(self, page: Page) -> list[Evidence] | None:
        out: list[Evidence] | None = None
        for part in self.parts:
            ev = part.on_page(page)
            if ev is not None:
                out = (out or []) + ev
        return out

    def on_site(self, pages: list[Page], fired: set[str]) -> list[Evidence] | None:
        out: list[Evidence] | None = None
        for part in self.parts:
            ev = part.on_site(pages, fired)
            if ev is not None:
                out = (out or []) + ev
        return out


@dataclass
class NotC(Compiled):
    inner: Compiled

    def on_page(self, page: Page) -> list[Evidence] | None:
        return [] if self.inner.on_page(page) is None else None

    def on_site(self, pages: list[Page], fired: set[str]) -> list[Evidence] | None:
        return [] if self.inner.on_site(pages, fired) is None else None


# --- compilation ---------------------------------------------------------------------------


class CompileError(ValueError):
    pass


def _re(patterns: list[str], what: str) -> re.Pattern[str] | None:
    if not patterns:
        return None
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    except re.error as exc:
        raise CompileError(f"{what}: bad regular expression: {exc}") from exc


def _phrases_re(phrases: list[str]) -> re.Pattern[str] | None:
    return _re([phrase_pattern(p) for p in phrases if p.strip()], "phrases")


def compile_matcher(m: Matcher, data: RuleSetData) -> Compiled:
    def lst(value: list[str] | str) -> list[str]:
        if isinstance(value, str):
            if value.startswith("@"):
                name = value[1:]
                if name not in data.lists:
                    raise CompileError(f"unknown data list {value!r} (rules/data/*.yaml)")
                return data.lists[name]
            return [value]
        out: list[str] = []
        for item in value:
            out.extend(lst(item) if item.startswith("@") else [item])
        return out

    kind = m.kind
    if kind == "text" and m.text is not None:
        t = m.text
        phrases, regexes = lst(t.phrases), lst(t.regex)
        patterns = [phrase_pattern(p) for p in phrases if p.strip()] + regexes
        return TextC(
            pattern=_re(patterns, "text"),
            phrase_tokens=[frozenset(_TOKEN.findall(p.lower())) for p in phrases],
            anchors=frozenset(a.lower() for a in t.anchors),
            has_regex=bool(regexes),
            source_field=t.field,
            window_kind=t.window,
        )
    if kind == "link" and m.link is not None:
        return LinkC(_re(lst(m.link.href), "link.href"), _phrases_re(lst(m.link.text)),
                     frozenset(d.lower() for d in lst(m.link.domain)), m.link.offsite)
    if kind == "image" and m.image is not None:
        return ImageC(_phrases_re(lst(m.image.words)), m.image.linked, frozenset(d.lower() for d in lst(m.image.link_domain)))
    if kind == "form" and m.form is not None:
        return FormC(m.form.file_upload, _re(lst(m.form.field), "form.field"))
    if kind == "jsonld" and m.jsonld is not None:
        return JsonLdC(frozenset(lst(m.jsonld.type)), m.jsonld.has)
    if kind == "drug" and m.drug is not None:
        return DrugC(frozenset(m.drug.schedule), frozenset(m.drug.category), m.drug.min)
    if kind == "price" and m.price is not None:
        return PriceC(m.price.min)
    if kind == "domain" and m.domain is not None:
        return DomainC(frozenset(t.lower().lstrip(".") for t in m.domain.tld), _re(lst(m.domain.regex), "domain.regex"))
    if kind == "seal" and m.seal is not None:
        chosen = [i for i in data.seals.issuers if not m.seal.issuer or i.id in m.seal.issuer]
        unknown = set(m.seal.issuer) - {i.id for i in data.seals.issuers}
        if unknown:
            raise CompileError(f"unknown seal issuer(s) {sorted(unknown)} (rules/data/seals.yaml)")
        return SealC(
            [(i, _phrases_re(i.words) or re.compile(r"(?!)"), _verify_re(i)) for i in chosen], m.seal.outcome
        )
    if kind == "fired" and m.fired is not None:
        return FiredC(frozenset(m.fired))
    if kind == "all" and m.all is not None:
        return AllC([compile_matcher(x, data) for x in m.all])
    if kind == "any" and m.any is not None:
        return AnyC([compile_matcher(x, data) for x in m.any])
    if kind == "not" and m.not_ is not None:
        return NotC(compile_matcher(m.not_, data))
    raise CompileError(f"unsupported matcher {kind!r}")


def _verify_re(issuer: SealIssuer) -> re.Pattern[str] | None:
    if not issuer.verify:
        return None
    pattern = re.escape(issuer.verify.lower()).replace(re.escape("{domain}"), r"(?:www\.)?(?P<domain>[a-z0-9.-]+)")
    return re.compile(pattern)


@dataclass
class CompiledRule:
    rule: Rule
    matcher: Compiled
    unless: list[Compiled]  # page- or site-level vetoes (text vetoes sit on the text matchers)

    def vetoed(self, page: Page) -> bool:
        return any(u.on_page(page) is not None for u in self.unless)


def compile_rule(rule: Rule, data: RuleSetData) -> CompiledRule:
    matcher = compile_matcher(rule.match, data)
    unless = [compile_matcher(u, data) for u in rule.unless]
    text_unless = [u for u in unless if isinstance(u, TextC)]
    other_unless = [u for u in unless if not isinstance(u, TextC)]
    # Text vetoes apply to the context of each text match (same sentence by default);
    # other vetoes apply to the whole page (page rules) or site (site rules).
    if text_unless:
        for leaf in _text_leaves(matcher):
            leaf.unless = text_unless
    if any(isinstance(u, FiredC) for u in other_unless) and rule.scope != "site":
        raise CompileError("`fired` works in site rules only (scope: site)")
    return CompiledRule(rule, matcher, other_unless)


def _text_leaves(c: Compiled) -> Iterable[TextC]:
    if isinstance(c, TextC):
        yield c
    elif isinstance(c, AllC | AnyC):
        for part in c.parts:
            yield from _text_leaves(part)


# --- evaluation ----------------------------------------------------------------------------


def evaluate(rules: list[CompiledRule], site: SiteFacts) -> list[Finding]:
    """All findings for a site: page rules first, then site rules (which may use `fired`)."""
    pages = [Page(p, site.domain) for p in site.pages]
    findings: list[Finding] = []
    fired: set[str] = set()
    for cr in rules:
        if cr.rule.scope != "page":
            continue
        evidence: list[Evidence] = []
        for page in pages:
            ev = cr.matcher.on_page(page)
            if ev is None or (cr.unless and cr.vetoed(page)):
                continue
            evidence.extend(ev or [Evidence(url=page.facts.url, text=cr.rule.name)])
        if evidence:
            findings.append(_finding(cr.rule, evidence))
            fired.add(cr.rule.id)
    for cr in rules:
        if cr.rule.scope != "site":
            continue
        site_ev = cr.matcher.on_site(pages, fired)
        if site_ev is None:
            continue
        if any(u.on_site(pages, fired) is not None for u in cr.unless):
            continue
        findings.append(_finding(cr.rule, site_ev or [Evidence(url=site.final_url, text=cr.rule.name)]))
        fired.add(cr.rule.id)
    return findings


def _finding(rule: Rule, evidence: list[Evidence]) -> Finding:
    seen: set[tuple[str, str]] = set()
    unique: list[Evidence] = []
    for ev in evidence:
        key = (ev.url, ev.text)
        if key not in seen:
            seen.add(key)
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
