"""`other_site`: the page presents another web address as the site itself ("these terms apply
to your use of the www.other.example website", "you must only purchase from other.example"):
text written for another site, which a copycat reuses with that site's registration numbers.
What is checked is on the site itself: the address named against the address it is served from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import Field

from pharmcheck.models import Evidence
from pharmcheck.rules.data import Strict, StrList
from pharmcheck.rules.matchers.base import CompileContext, Compiled, MatcherKind, register
from pharmcheck.rules.page import MAX_EVIDENCE, Page, context, window
from pharmcheck.rules.textsearch import TOKEN, CompileError, phrase_pattern, phrases_regex
from pharmcheck.urls import has_public_suffix, registrable_domain

# Where a web address may be: a dot followed by letters ("e.g" too: whether the name ends in
# a public suffix is checked after). A literal first character keeps the scan fast; the name
# around each hit is then read by hand.
DOT_LETTERS = re.compile(r"\.[a-z]{2,18}", re.IGNORECASE)
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
# Between the phrase and the address: spaces, an article, an opening bracket or quote, a scheme.
GAP = r"(?:\s+the)?[\s(\"“'‘:,]+(?:https?://)?"
LEAD_REACH = 80  # characters before an address in which its phrase must end
MIN_BRAND = 3  # shorter brand labels ("ro", "uk") are contained in too many other names


class OtherSiteMatcher(Strict):
    """Phrases after which the text names the site it was written for ("use of", "purchase from")."""

    before: StrList = Field(default_factory=list)
    # Phrases that veto a match in its own sentence ("formerly", "sister site"). A rule's
    # `unless` text vetoes look at the whole page for a matcher that is not `text`, and a
    # copied terms page says "risk" or "partner" somewhere.
    unless_near: StrList = Field(default_factory=list)


def brand(domain: str) -> str:
    """The registrable domain without its public suffix ("shop-x.co.uk" -> "shop-x")."""
    return domain.split(".", 1)[0]


def same_owner(named: str, own: str) -> bool:
    """Whether an address named on the page plausibly is the site's own: the same registrable
    domain, or one brand name inside the other (a .com and its .co.uk, "hims" and "forhims")."""
    if named == own:
        return True
    a, b = brand(named).replace("-", ""), brand(own).replace("-", "")
    return len(min(a, b, key=len)) >= MIN_BRAND and (a in b or b in a)


@dataclass
class OtherSiteC(Compiled):
    lead: re.Pattern[str]  # a phrase and the gap before an address, up to where it starts
    anchors: frozenset[str]
    vetoes: re.Pattern[str] | None

    def on_page(self, page: Page) -> list[Evidence] | None:
        own = page.site_domain
        if not own or self.anchors.isdisjoint(page.tokens):
            return None
        text = page.all_text
        found: list[Evidence] = []
        end = 0
        for hit in DOT_LETTERS.finditer(text):
            if hit.start() < end:
                continue  # inside the name already read
            start, end = hit.start(), hit.end()
            while start > 0 and text[start - 1] in NAME_CHARS:
                start -= 1
            while end < len(text) and text[end] in NAME_CHARS:
                end += 1
            name = text[start:end].strip(".-").lower().removeprefix("www.")
            lead = self.lead.search(text, max(0, start - LEAD_REACH), start)
            if lead is None or not has_public_suffix(name):
                continue
            named = registrable_domain(name)
            if same_owner(named, own):
                continue
            if self.vetoes is not None and self.vetoes.search(window(text, lead.start(), end, "sentence")):
                continue
            found.append(Evidence(url=page.facts.url,
                                  text=f"{context(text, lead.start(), end)} (names {named}; this site is {own})"))
            if len(found) >= MAX_EVIDENCE:
                break
        return found or None


def compile_other_site(m: OtherSiteMatcher, ctx: CompileContext) -> OtherSiteC:
    before = [p for p in ctx.expand(m.before) if p.strip()]
    if not before:
        raise CompileError("other_site needs `before` phrases")
    lead = "|".join(f"(?:{phrase_pattern(p)})" for p in before)
    # Anchors: the phrases' rarest-looking word each (their longest), one of which must be on the page.
    anchors = frozenset(max(TOKEN.findall(p.lower()), key=len) for p in before)
    return OtherSiteC(re.compile(rf"(?:{lead}){GAP}\Z", re.IGNORECASE), anchors, phrases_regex(ctx.expand(m.unless_near)))


register(MatcherKind(
    name="other_site",
    options=OtherSiteMatcher,
    compile=compile_other_site,
    matches="a web address that follows one of the `before` phrases (\"use of\", \"purchase from\"), presenting it as the site itself, and is not the site's own domain; `unless_near` phrases veto a match in its sentence",
    evidence="the sentence, the address named and the site's own domain",
))
