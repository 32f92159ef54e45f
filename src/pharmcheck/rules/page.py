"""A page as the matchers see it (lazily computed views shared by all rules) and the evidence
windows cut around a match (the sentence, a line, a number of characters)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING
from urllib.parse import unquote

import re2

from pharmcheck.extract import word_set
from pharmcheck.models import PageFacts, SiteFact
from pharmcheck.rules.textsearch import RE2_SET_TRUSTED_CHARS, Utf8Text, fold_case
from pharmcheck.urls import registrable_domain

if TYPE_CHECKING:
    from pharmcheck.rules.phrasebook import PhraseBook

MAX_EVIDENCE = 5
CONTEXT_CHARS = 200
# How far a sentence or line reaches either side of a match. A page of words without a full
# stop is one "sentence": looking for its ends from every match made the vetoes quadratic
# (a 2.3 MB page took minutes). Real sentences are far shorter.
MAX_SENTENCE_REACH = 600
MAX_LINE_REACH = 2000
# Matches of one text matcher examined on one page: past this many (all vetoed), the page
# has shown what it has.
MAX_CANDIDATE_SPANS = 1000
_SENTENCE_END = re.compile(r"[.!?;](?:\s|$)|\n")
# The last _SENTENCE_END in the text searched: the greedy prefix leaves the latest one.
_LAST_SENTENCE_END = re.compile(r"(?s:.*)(?:[.!?;](?:\s|$)|\n)")


@dataclass
class Page:
    """A page as the matchers see it, with lazily computed views shared by all rules."""

    facts: PageFacts
    site_domain: str
    site_facts: list[SiteFact] = field(default_factory=list)  # the site's facts beyond its pages (facts/)

    def site_fact(self, provider: str) -> SiteFact | None:
        return next((f for f in self.site_facts if f.provider == provider), None)

    @cached_property
    def url_text(self) -> str:
        return unquote(self.facts.url).replace("-", " ").replace("_", " ").replace("/", " ")

    @cached_property
    def tokens(self) -> frozenset[str]:
        """Words on the page (a superset is fine: they only decide what is worth searching)."""
        url_words = word_set(self.url_text.lower())
        if self.facts.words:
            return self.facts.words | url_words
        return word_set(self.all_text.lower()) | url_words

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

    def lowered(self, name: str) -> str:
        """The field's text case-folded character for character (textsearch.fold_case): the
        same length, so a match's offsets are the original text's, whatever the page holds."""
        cached = self._lowered.get(name)
        if cached is None:
            cached = self._lowered[name] = fold_case(self.field_text(name))
        return cached

    @cached_property
    def _lowered(self) -> dict[str, str]:
        return {}

    def utf8(self, name: str, lowered: bool = False) -> Utf8Text | None:
        """The field's text (or its lowered form) in UTF-8, encoded once for the page's RE2
        passes and every rule's regexes; None if it cannot be encoded."""
        key = (name, lowered)
        cache = self._utf8
        if key not in cache:
            cache[key] = Utf8Text.of(self.lowered(name) if lowered else self.field_text(name))
        return cache[key]

    @cached_property
    def _utf8(self) -> dict[tuple[str, bool], Utf8Text | None]:
        return {}

    @cached_property
    def label_tokens(self) -> frozenset[str]:
        """Words of image labels and of link texts and addresses (where seals live)."""
        return word_set(self.label_text)

    @cached_property
    def label_text(self) -> str:
        """Image labels and link texts and addresses (where seals live), lower-cased."""
        parts = [f"{i.alt} {i.title} {i.src}" for i in self.facts.images]
        parts += [link.text for link in self.facts.links]
        # Addresses only of links to other sites: a seal's link leaves the site.
        parts += [
            link.url
            for link, domain in zip(self.facts.links, self.link_domain_list, strict=True)
            if domain and domain != self.site_domain
        ]
        return " ".join(parts).lower()

    def label_words(self, finder: WordFinder) -> frozenset[str]:
        """Those of `finder`'s words that are in label_tokens, found in one pass (the
        label text of a listing has thousands of words; the seal matchers ask about a few)."""
        found = self._label_words.get(id(finder))
        if found is None:
            found = self._label_words[id(finder)] = finder.present(self.label_text)
        return found

    @cached_property
    def _label_words(self) -> dict[int, frozenset[str]]:
        return {}

    @cached_property
    def link_domain_list(self) -> list[str]:
        """Registrable domain of each link ("" for mailto:, tel:), aligned with facts.links."""
        url = self.facts.url
        origin = url[: url.find("/", url.find("://") + 3) + 1] if "://" in url else ""
        own = registrable_domain(url) if origin else ""
        # Most links stay on the page's own host: they need no parsing.
        return [
            own if origin and link.url.startswith(origin) else registrable_domain(link.url) if link.url.startswith("http") else ""
            for link in self.facts.links
        ]

    def phrase_hits(self, book: PhraseBook) -> dict[int, list[tuple[int, int]]]:
        """Word-bounded occurrences in `all_text` of every phrase of the rule set, found in one
        pass (computed once per page and shared by all rules)."""
        hits = self._phrase_hits.get(id(book))
        if hits is None:
            low = self.lowered("all")
            encoded = self.utf8("all", lowered=True)
            hits = self._phrase_hits[id(book)] = book.find(low, encoded.data if encoded else None) if low is not None else {}
        return hits

    @cached_property
    def _phrase_hits(self) -> dict[int, dict[int, list[tuple[int, int]]]]:
        return {}

    def regex_hits(self, book: PhraseBook) -> tuple[frozenset[int], frozenset[int]] | None:
        """Ids of the rule set's RE2 patterns that match this page (lower-case text, original
        text), from one RE2::Set pass each; None if a pass could not be made."""
        key = -id(book)
        if key not in self._phrase_hits_regex:
            low = self.lowered("all")
            folded = book.folded.matching(low, self.utf8("all", lowered=True)) if low is not None else None
            cased = book.cased.matching(self.all_text, self.utf8("all"))
            self._phrase_hits_regex[key] = None if folded is None or cased is None else (folded, cased)
        return self._phrase_hits_regex[key]

    @cached_property
    def _phrase_hits_regex(self) -> dict[int, tuple[frozenset[int], frozenset[int]] | None]:
        return {}

    @cached_property
    def link_texts(self) -> str:
        return "\n".join(link.text for link in self.facts.links)

    @cached_property
    def link_texts_lowered(self) -> str:
        return fold_case(self.link_texts)

    def link_words(self, finder: WordFinder) -> frozenset[str]:
        """Those of `finder`'s words that are in link_text_words, found in one pass."""
        found = self._label_words.get(-id(finder))
        if found is None:
            found = self._label_words[-id(finder)] = finder.present(self.link_texts_lowered)
        return found

    @cached_property
    def link_text_words(self) -> frozenset[str]:
        """Words of all link texts: link matchers search only the phrases made of them."""
        return word_set(self.link_texts_lowered)

    def link_urls(self, offsite: bool | None) -> bytes | None:
        """The URLs of the links to other sites (True), to this one (False) or of all links
        (None), one a line, in UTF-8 (an RE2 search of bytes maps no offsets); None if a URL
        cannot be encoded (then the links are searched one by one, as before)."""
        cache = self._link_urls
        if offsite not in cache:
            domain = self.site_domain
            urls = [link.url for link, d in zip(self.facts.links, self.link_domain_list, strict=True)
                    if offsite is None or (d != domain) == offsite]
            try:
                cache[offsite] = "\n".join(urls).encode("utf-8")
            except UnicodeEncodeError:
                cache[offsite] = None
        return cache[offsite]

    @cached_property
    def _link_urls(self) -> dict[bool | None, bytes | None]:
        return {}

    @cached_property
    def link_domains(self) -> frozenset[str]:
        return frozenset(self.link_domain_list) - {""}

    @cached_property
    def seal_claims(self) -> dict[str, list[tuple[str, str | None]]]:
        """Seal claims per issuer id, shared by the verified/unverified/mismatch rules."""
        return {}


class WordFinder:
    """Which of a few words are words of a text as word_set sees them (runs of [a-z0-9] in its
    UTF-8 bytes), found in the bytes by RE2 in Latin-1 mode (a byte is a character, so each
    byte of a non-ASCII character separates words, as in word_set) instead of splitting the
    whole text into a set: one RE2::Set pass, or on texts too long to trust its "no match",
    one scan for any of the words."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = sorted({w for w in words if w})
        if any(not _ASCII_WORD.fullmatch(w) for w in self.words):
            raise ValueError(f"not [a-z0-9]+ words: {self.words}")
        options = re2.Options()
        options.encoding = re2.Options.Encoding.LATIN1
        options.log_errors = False
        self._set = re2.Set.SearchSet(options)
        for word in self.words:
            self._set.Add(b"(?:^|[^a-z0-9])" + word.encode() + b"(?:[^a-z0-9]|$)")
        if self.words:
            self._set.Compile()
        options.longest_match = True  # of two words at one place, the longer ("eu", "euro")
        alternation = b"|".join(w.encode() for w in self.words)
        # A word after a non-word byte; whether one follows is checked by hand (RE2 has no
        # look-ahead, and consuming it would hide a word right after).
        self._regex = re2.compile(b"(?:^|[^a-z0-9])(" + alternation + b")", options=options)

    def present(self, lowered: str) -> frozenset[str]:
        """The words that are words of `lowered` (lower-cased text)."""
        if not self.words:
            return frozenset()
        data = lowered.encode("utf-8", "surrogatepass")
        if len(data) <= RE2_SET_TRUSTED_CHARS:
            return frozenset(self.words[i] for i in self._set.Match(data) or ())
        size = len(data)
        found: set[str] = set()
        search = self._regex.search
        pos = 0
        while (m := search(data, pos)) is not None:
            end = m.end(1)
            # A shorter word ending inside a longer run is no word either: its next byte is
            # the run's, a word byte.
            if end == size or data[end] not in _WORD_BYTES:
                found.add(m.group(1).decode())
                if len(found) == len(self.words):
                    break
            pos = end
        return frozenset(found)


_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")
_ASCII_WORD = re.compile(r"[a-z0-9]+")


def _line_bounds(text: str, start: int, end: int, reach: int) -> tuple[int, int]:
    """The line around text[start:end], at most `reach` characters either side."""
    floor = max(0, start - reach)
    ceiling = min(len(text), end + reach)
    line_start = max(text.rfind("\n", floor, start) + 1, floor)
    line_end = text.find("\n", end, ceiling)
    return line_start, ceiling if line_end < 0 else line_end


@lru_cache(maxsize=2)  # a match's veto window and its evidence ask for the same bounds in turn
def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    line_start, line_end = _line_bounds(text, start, end, MAX_SENTENCE_REACH)
    # Where the last sentence end before the match ends (one backwards scan in C, not a
    # Python loop over every sentence end of the line).
    last = _LAST_SENTENCE_END.match(text, line_start, start)
    left = last.end() if last else line_start
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
        left, right = _line_bounds(text, start, end, MAX_LINE_REACH)
        return text[left:right]
    left, right = _sentence_bounds(text, start, end)
    return text[left:right]


# --- compiled matchers ---------------------------------------------------------------------
