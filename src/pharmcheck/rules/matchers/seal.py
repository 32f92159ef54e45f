"""`seal`: a seal or register logo, judged against its issuer (rules/data/seals.yaml): verified
(links to the issuer's check of this site), mismatch (another site, or a look-alike issuer) or
unverified."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal
from urllib.parse import unquote

from pydantic import Field

from pharmcheck.models import Evidence
from pharmcheck.rules.data import SealIssuer, Strict
from pharmcheck.rules.matchers.base import CompileContext, Compiled, MatcherKind, register
from pharmcheck.rules.page import MAX_EVIDENCE, Page, WordFinder
from pharmcheck.rules.textsearch import CompileError, phrase_words, phrases_regex
from pharmcheck.urls import registrable_domain


class SealMatcher(Strict):
    """A seal or accreditation claim, judged against its issuer (rules/data/seals.yaml)."""

    issuer: list[str] = Field(default_factory=list)  # issuer ids; empty: any issuer
    outcome: Literal["verified", "unverified", "mismatch"]


@dataclass
class SealC(Compiled):
    issuers: list[tuple[SealIssuer, re.Pattern[str], list[re.Pattern[str]]]]
    outcome: str

    @cached_property
    def _issuer_words(self) -> dict[str, list[frozenset[str]]]:
        """Per issuer id, the words of each of its names (split once, not on every page)."""
        return {issuer.id: [phrase_words(w) for w in issuer.words] for issuer, _, _ in self.issuers}

    @cached_property
    def _word_finder(self) -> WordFinder:
        return WordFinder(w for names in self._issuer_words.values() for words in names for w in words)

    def _may_claim(self, page: Page, issuer: SealIssuer) -> bool:
        """Cheap test first: most pages name no issuer and link to none."""
        # The issuer's words among the label words: enough to tell whether all of a name's are.
        tokens = page.label_words(self._word_finder)
        if any(words <= tokens for words in self._issuer_words[issuer.id]):
            return True
        return not page.link_domains.isdisjoint(issuer.domains)

    def on_page(self, page: Page) -> list[Evidence] | None:
        found: list[Evidence] = []
        for issuer, words, verify in self.issuers:
            claims = page.seal_claims.get(issuer.id)
            if claims is None:
                claims = list(self._claims(page, words, issuer)) if self._may_claim(page, issuer) else []
                page.seal_claims[issuer.id] = claims
            for label, link in claims:
                outcome = judge_seal(issuer, verify, link, page.site_domain)
                if outcome == self.outcome:
                    where = f" linking to {link[:110]}" if link else " with no link to its issuer"
                    found.append(Evidence(url=page.facts.url, text=f"{issuer.name} seal “{label[:60]}”{where}"))
        return found[:MAX_EVIDENCE] or None

    @staticmethod
    def _claims(page: Page, words: re.Pattern[str], issuer: SealIssuer) -> Iterable[tuple[str, str | None]]:
        """Seal images and links naming the issuer, and links to the issuer's own domains."""
        seen: set[str | None] = set()
        for img in page.facts.images:
            label = f"{img.alt} {img.title} {img.src}".replace("-", " ").replace("_", " ")
            if words.search(label):
                seen.add(img.link)
                yield (img.alt or img.title or img.src), img.link
        for link in page.facts.links:
            if link.url in seen or not link.url.startswith("http"):
                continue
            domain = registrable_domain(link.url)
            if domain == page.site_domain:
                continue  # the site's own navigation is not a seal (the issuer's own site links to itself)
            named = words.search(link.text) or words.search(link.url.replace("-", " ").replace("_", " "))
            if named or domain in issuer.domains:
                yield link.text or link.url, link.url


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Levenshtein distance, stopping early once it exceeds `limit` (look-alike domains are close)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def looks_like_issuer(domain: str, issuer: SealIssuer) -> bool:
    """A domain imitating the issuer's: its name inside another domain, or one or two letters off."""
    if domain in issuer.domains:
        return False
    label = domain.removeprefix("www.").split(".")[0]
    for own in issuer.domains:
        name = own.split(".")[0]
        if len(name) >= 5 and name in label:
            return True  # legitscript-verify.example, nabpcheck.example
        if len(name) >= 6 and edit_distance(label, name, 2) <= 2:
            return True  # legitscrlpt.example
        if len(name) < 5 and (label.startswith(name + "-") or label.endswith("-" + name)):
            return True  # cipa-verify.example
    return False


def _same_site(checked: str, site_domain: str) -> bool:
    a = registrable_domain(checked).removeprefix("www.")
    b = site_domain.removeprefix("www.")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def judge_seal(issuer: SealIssuer, verify: list[re.Pattern[str]], link: str | None, site_domain: str) -> str:
    """verified: links to the issuer's check for this site; mismatch: links to the issuer (or a
    look-alike of it) for another site; unverified: a seal with no working link to its issuer."""
    if not link or not link.startswith("http"):
        return "unverified"
    domain = registrable_domain(link)
    if domain == site_domain:
        return "unverified"  # a seal linking to the site itself proves nothing
    if looks_like_issuer(domain, issuer):
        return "mismatch"  # look-alike issuer domain, e.g. legitscript-verify.example
    if domain not in issuer.domains:
        return "unverified"
    target = unquote(link).lower()
    for pattern in verify:
        m = pattern.search(target)
        if m is None:
            continue
        checked = m.groupdict().get("domain")
        if checked is None:
            return "verified"  # a register entry by number: the issuer's page for one pharmacy
        return "verified" if _same_site(checked.strip("."), site_domain) else "mismatch"
    if not verify and site_domain.split(".")[0] in target.split("/", 3)[-1]:
        return "verified"  # issuers without a known link shape: the page names this site
    return "unverified"  # the issuer's home page, not a check of this site



def _verify_res(issuer: SealIssuer) -> list[re.Pattern[str]]:
    """Verification link shapes: literal text where {domain} is the checked site and {id} a register number."""
    out = []
    for template in [issuer.verify] if isinstance(issuer.verify, str) else issuer.verify:
        if not template:
            continue
        pattern = re.escape(template.lower())
        pattern = pattern.replace(re.escape("{domain}"), r"(?:www\.)?(?P<domain>[a-z0-9-]+(?:\.[a-z0-9-]+)+)")
        pattern = pattern.replace(re.escape("{id}"), r"[a-z0-9-]{2,40}(?:[/?#&]|$)")
        pattern = pattern.replace(re.escape("{any}"), r"[^#]*?")
        out.append(re.compile(pattern))
    return out



def compile_seal(m: SealMatcher, ctx: CompileContext) -> SealC:
    issuers = ctx.data.seals.issuers
    chosen = [i for i in issuers if not m.issuer or i.id in m.issuer]
    unknown = set(m.issuer) - {i.id for i in issuers}
    if unknown:
        raise CompileError(f"unknown seal issuer(s) {sorted(unknown)} (rules/data/seals.yaml)")
    return SealC([(i, phrases_regex(i.words) or re.compile(r"(?!)"), _verify_res(i)) for i in chosen], m.outcome)


register(MatcherKind(
    name="seal",
    options=SealMatcher,
    compile=compile_seal,
    matches="a seal or register logo of an `issuer` (rules/data/seals.yaml) with an `outcome`",
    evidence="the seal and where it links",
))
