"""Matchers over the page's structure as extracted: `link`, `image`, `form`, `jsonld`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property

from pydantic import Field

from pharmcheck.models import Evidence
from pharmcheck.rules.data import Strict, StrList
from pharmcheck.rules.matchers.base import CompileContext, Compiled, MatcherKind, register
from pharmcheck.rules.page import MAX_EVIDENCE, Page, WordFinder
from pharmcheck.rules.textsearch import LazyRE2, Searcher, TextPatterns, phrases_regex, regex_union
from pharmcheck.urls import registrable_domain


class LinkMatcher(Strict):
    href: StrList = Field(default_factory=list)  # regexes over the absolute URL
    text: StrList = Field(default_factory=list)  # phrases in the link text
    domain: StrList = Field(default_factory=list)  # registrable domains (or "@list")
    offsite: bool | None = None  # True: only links to other sites


class ImageMatcher(Strict):
    words: StrList = Field(default_factory=list)  # phrases in src/alt/title
    linked: bool | None = None  # True: inside a link; False: not inside a link
    link_domain: StrList = Field(default_factory=list)


class FormMatcher(Strict):
    file_upload: bool | None = None
    field: StrList = Field(default_factory=list)  # regexes over "name:type"


class JsonLdMatcher(Strict):
    type: StrList = Field(default_factory=list)
    has: list[str] = Field(default_factory=list)  # properties that must be present
    # Phrases one of which must occur in the item's JSON (case-folded), e.g. a review platform.
    contains: StrList = Field(default_factory=list)


# What makes a regex's match depend on where the text it searches begins or ends, beyond what
# multi-line mode gives `^` and `$`: \A and \z, and turning multi-line mode off, (?-m).
_WHOLE_TEXT_ANCHORS = re.compile(r"\\[Az]|\(\?[a-zA-Z]*-[a-zA-Z]*m")


def links_prefilter(href: Searcher | None) -> Searcher | None:
    r"""`href` in multi-line mode, for the URLs of a page's links one a line (Page.link_urls):
    if it matches nowhere there, it matches no single link's URL, whatever the URLs hold (a
    match in one URL is the same characters in the joined text, its \b and \B see the same
    non-word neighbours as at the URL's ends, and ^/$ match at every line's ends). None when
    that does not hold (\A, \z, (?-m)): every link is then searched on its own."""
    if href is None or _WHOLE_TEXT_ANCHORS.search(href.pattern):
        return None
    return LazyRE2(f"(?m:{href.pattern})")  # href compiled on RE2, so this does


@dataclass
class LinkC(Compiled):
    href: Searcher | None  # RE2
    text: TextPatterns | None
    domains: frozenset[str]
    offsite: bool | None
    href_prefilter: Searcher | None = None  # links_prefilter(href)

    @cached_property
    def _text_words(self) -> WordFinder:
        """The words of the `text` phrases: those on the page decide which phrases are scanned."""
        return WordFinder(w for words in (self.text.phrase_words if self.text else []) for w in words)

    def on_page(self, page: Page) -> list[Evidence] | None:
        if self.domains and page.link_domains.isdisjoint(self.domains):
            return None
        if self.text is not None and not self.text.found_in(
            page.link_texts, page.link_texts_lowered, page.link_words(self._text_words)
        ):
            return None  # one scan of all link texts instead of one per link
        if self.href_prefilter is not None:
            # One search over the URLs of the links in scope instead of one per link: pages of
            # off-site links (doorways, affiliate pages) have hundreds, and none matches.
            urls = page.link_urls(self.offsite)
            if urls is not None and self.href_prefilter.search(urls) is None:  # type: ignore[arg-type]  # RE2 searches bytes
                return None
        found: list[Evidence] = []
        for link, domain in zip(page.facts.links, page.link_domain_list, strict=True):
            if self.domains and domain not in self.domains:
                continue
            if self.offsite is not None and (domain != page.site_domain) != self.offsite:
                continue
            if self.href is not None and not self.href.search(link.url):
                continue
            if self.text is not None and not self.text.search(link.text):
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
    field_re: Searcher | None  # RE2

    def on_page(self, page: Page) -> list[Evidence] | None:
        found: list[Evidence] = []
        # A listing page repeats one form per product: each distinct field list is searched once.
        field_match: dict[tuple[str, ...], bool] = {}
        for form in page.facts.forms:
            if self.file_upload is not None and form.file_upload != self.file_upload:
                continue
            if self.field_re is not None:
                matched = field_match.get(form.fields)
                if matched is None:
                    search = self.field_re.search
                    matched = field_match[form.fields] = any(search(f) for f in form.fields)
                if not matched:
                    continue
            found.append(Evidence(url=page.facts.url, text=f"form to {form.action[:100]} with fields {', '.join(form.fields[:6])[:90]}"))
            if len(found) >= MAX_EVIDENCE:
                break
        return found or None


@dataclass
class JsonLdC(Compiled):
    types: frozenset[str]
    has: list[str]
    contains: re.Pattern[str] | None = None

    def on_page(self, page: Page) -> list[Evidence] | None:
        found: list[Evidence] = []
        for item in page.facts.jsonld:
            raw_type = item.get("@type", "")
            types = {str(t) for t in raw_type} if isinstance(raw_type, list) else {str(raw_type)}
            if self.types and self.types.isdisjoint(types):
                continue
            if any(key not in item for key in self.has):
                continue
            if self.contains is not None and not self.contains.search(json.dumps(item, default=str)):
                continue
            found.append(Evidence(url=page.facts.url, text=f"JSON-LD {'/'.join(sorted(types))}: {str(item)[:140]}"))
            if len(found) >= MAX_EVIDENCE:
                break
        return found or None


def compile_link(m: LinkMatcher, ctx: CompileContext) -> LinkC:
    link_text = ctx.expand(m.text)
    href = regex_union(ctx.expand(m.href), "link.href")
    return LinkC(href, TextPatterns.build(link_text, []) if link_text else None,
                 frozenset(d.lower() for d in ctx.expand(m.domain)), m.offsite, links_prefilter(href))


def compile_image(m: ImageMatcher, ctx: CompileContext) -> ImageC:
    return ImageC(phrases_regex(ctx.expand(m.words)), m.linked, frozenset(d.lower() for d in ctx.expand(m.link_domain)))


def compile_form(m: FormMatcher, ctx: CompileContext) -> FormC:
    return FormC(m.file_upload, regex_union(ctx.expand(m.field), "form.field"))


def compile_jsonld(m: JsonLdMatcher, ctx: CompileContext) -> JsonLdC:
    return JsonLdC(frozenset(ctx.expand(m.type)), m.has, phrases_regex(ctx.expand(m.contains)))


register(MatcherKind(
    name="link",
    options=LinkMatcher,
    compile=compile_link,
    matches="links by `href` regex, link `text` phrases, target `domain` (a list or `@name`), `offsite`",
    evidence="link text and target",
))
register(MatcherKind(
    name="image",
    options=ImageMatcher,
    compile=compile_image,
    matches="images whose src/alt/title contain `words`; `linked`, `link_domain`",
    evidence="image alt, src and link",
))
register(MatcherKind(
    name="form",
    options=FormMatcher,
    compile=compile_form,
    matches="forms with a `file_upload` and/or a `field` (\"name:type\") regex",
    evidence="form action and fields",
))
register(MatcherKind(
    name="jsonld",
    options=JsonLdMatcher,
    compile=compile_jsonld,
    matches="JSON-LD items by `type`, required properties (`has`), `contains` phrases",
    evidence="the item",
))
