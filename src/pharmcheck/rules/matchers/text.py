"""`text`: phrases and regexes over the page text, title or address, with `unless` vetoes
looked for in a window around each match."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from pydantic import Field

from pharmcheck.models import Evidence
from pharmcheck.rules.data import Strict, StrList
from pharmcheck.rules.inflect import expand as expand_lemmas
from pharmcheck.rules.matchers.base import CompileContext, Compiled, MatcherKind, register
from pharmcheck.rules.page import MAX_CANDIDATE_SPANS, MAX_EVIDENCE, Page, context, window
from pharmcheck.rules.phrasebook import PhraseBook
from pharmcheck.rules.textsearch import TextPatterns, phrase_words, span_order


class TextMatcher(Strict):
    """Phrases (word-bounded, case-folded, any whitespace) and/or regular expressions."""

    phrases: StrList = Field(default_factory=list)
    # Phrases whose braced words match any inflected form: "{rezept} {einlösen}" (rules/inflect.py).
    lemmas: StrList = Field(default_factory=list)
    regex: StrList = Field(default_factory=list)
    field: Literal["text", "title", "url", "all"] = "all"
    # Words one of which must be on the page before the regexes run (a cheap prefilter).
    anchors: list[str] = Field(default_factory=list)
    # For `unless`: how much text around the primary match is looked at.
    window: Literal["sentence", "line", "page"] | int = "sentence"


# Veto answers kept per matcher (matches_in), for windows of at most this many characters
# (sentences and lines; not whole pages, kind `page`). Bounded for hostile pages, whose
# windows are all different: the 237 text matchers' caches together hold at most ~17 MB.
# A site repeats a handful of windows (the audit benchmark's: 5 distinct of 40 asked), and
# 95% of the windows vetoes are asked about on the corpus pages are under 500 characters.
VETO_CACHE_SIZE = 128
VETO_CACHE_MAX_CHARS = 500


@dataclass
class TextC(Compiled):
    patterns: TextPatterns
    phrase_tokens: list[frozenset[str]]  # per phrase: all its words must be on the page
    anchors: frozenset[str]
    has_regex: bool
    source_field: str
    window_kind: str | int
    unless: list[TextC] = field(default_factory=list)  # set by the rule for primary text matchers
    book: PhraseBook | None = None  # set by attach_phrase_book for primary text matchers
    phrase_ids: list[list[int]] = field(default_factory=list)  # per phrase, its ids in the book

    @cached_property
    def _all_phrase_ids(self) -> frozenset[int]:
        return frozenset(i for ids in self.phrase_ids for i in ids)

    @cached_property
    def _book_regexes(self) -> bool:
        return bool(self.patterns.folded or self.patterns.cased)

    @cached_property
    def _all_regex_ids(self) -> tuple[frozenset[int], frozenset[int]] | None:
        """The ids of this matcher's regexes in the rule set's RegexSets (folded, cased); None
        if one of them is not in a set (an `re` pattern), so the sets cannot rule it out."""
        ids = self.patterns.folded_ids, self.patterns.cased_ids
        if len(ids[0]) != len(self.patterns.folded) or len(ids[1]) != len(self.patterns.cased):
            return None
        if any(i < 0 for i in (*ids[0], *ids[1])):
            return None
        return frozenset(ids[0]), frozenset(ids[1])

    def _candidate(self, page: Page) -> bool:
        if self.book is not None and self.source_field == "all" and page.lowered("all") is not None:
            # The page's automaton pass (phrases) and RegexSet passes (regexes) already say
            # whether any of this matcher's patterns is on the page: _book_spans finds only those.
            hits = page.phrase_hits(self.book)
            if not self._book_regexes:
                return not self._all_phrase_ids.isdisjoint(hits)
            if self._all_phrase_ids.isdisjoint(hits) and not self._regexes_matched(page):
                return False
        tokens = page.tokens
        if self.has_regex and (not self.anchors or not self.anchors.isdisjoint(tokens)):
            return True
        return any(t <= tokens for t in self.phrase_tokens)

    def _regexes_matched(self, page: Page) -> bool:
        """Whether any of this matcher's regexes may match the page (False only when the
        page-wide RegexSet passes say none does)."""
        assert self.book is not None
        own = self._all_regex_ids
        matched = page.regex_hits(self.book) if own is not None else None
        if own is None or matched is None:
            return True
        return not (own[0].isdisjoint(matched[0]) and own[1].isdisjoint(matched[1]))

    def on_page(self, page: Page) -> list[Evidence] | None:
        if not self._candidate(page):
            return None
        text = page.field_text(self.source_field)
        found: list[Evidence] = []
        lowered = page.lowered(self.source_field)
        spans: Iterable[tuple[int, int]]
        if self.book is not None and self.source_field == "all" and lowered is not None:
            spans = self._book_spans(page, text, lowered)
        else:
            encoded = (page.utf8(self.source_field, lowered=True), page.utf8(self.source_field)) if self.has_regex else None
            spans = self.patterns.spans(text, lowered, page.tokens, encoded=encoded)
        for examined, (start, end) in enumerate(spans):
            if examined >= MAX_CANDIDATE_SPANS:
                break
            if self.unless and any(u.matches_in(window(text, start, end, u.window_kind)) for u in self.unless):
                continue
            words = f"page address {page.facts.url[:180]}" if self.source_field == "url" else context(text, start, end)
            found.append(Evidence(url=page.facts.url, text=words))
            if len(found) >= MAX_EVIDENCE:
                break
        return found or None

    def _book_spans(self, page: Page, text: str, lowered: str) -> Iterator[tuple[int, int]]:
        """Phrase hits from the page's shared automaton pass, merged in order with regex matches,
        lazily (the caller stops after a few pieces of evidence); overlapping hits keep the
        earliest, longest one, as an alternation would."""
        assert self.book is not None
        hits = page.phrase_hits(self.book)
        phrase_spans = sorted((span for ids in self.phrase_ids for i in ids for span in hits.get(i, ())), key=span_order)
        merged: Iterable[tuple[int, int]] = phrase_spans
        if self.has_regex:
            # RE2 patterns the page-wide set pass did not match are skipped; the others (and
            # the rare `re` ones) make one pass each.
            regex_spans = self.patterns.spans(
                text, lowered, page.tokens, with_phrases=False, matched=page.regex_hits(self.book),
                encoded=(page.utf8("all", lowered=True), page.utf8("all")),
            )
            merged = heapq.merge(phrase_spans, regex_spans, key=span_order)
        last_end = -1
        for span in merged:
            if span[0] >= last_end:
                last_end = span[1]
                yield span

    def matches_in(self, text: str) -> bool:
        """Whether this (veto) matcher matches `text`, a window around another matcher's match.
        Windows repeat (a footer sentence on every page of a site, one sentence per product on
        a listing): the answers for the last few are kept, the search being a function of the
        text alone."""
        if len(text) > VETO_CACHE_MAX_CHARS:
            return self.patterns.search(text)
        known = self._veto_answers.get(text)
        if known is None:
            known = self.patterns.search(text)
            if len(self._veto_answers) >= VETO_CACHE_SIZE:
                self._veto_answers.clear()  # (another thread may be filling it: an answer is an answer)
            self._veto_answers[text] = known
        return known

    @cached_property
    def _veto_answers(self) -> dict[str, bool]:
        return {}


class TextIndex:
    """Which of a rule set's primary text matchers the page-wide passes (the phrase pass and the
    RegexSet passes) leave in play on a page, found once per page from the few phrases and
    regexes present, so that the engine skips the rules they rule out without calling them
    (most of the rule set on any page). A matcher is in play exactly when _candidate's first
    test lets it through: one of its phrases is on the page, or one of its regexes may match
    (a set pass matched it, could not be made, or it is not in a set)."""

    def __init__(self, book: PhraseBook, leaves: list[TextC]) -> None:
        self.book = book
        self.position = {id(leaf): i for i, leaf in enumerate(leaves)}  # a leaf's number in the sets below
        self._by_phrase: dict[int, list[int]] = {}
        self._by_folded: dict[int, list[int]] = {}
        self._by_cased: dict[int, list[int]] = {}
        self._with_regex: list[int] = []  # in play whenever the regex set passes cannot be made
        self._always: list[int] = []  # a regex no set holds: never ruled out
        for i, leaf in enumerate(leaves):
            for phrase_id in leaf._all_phrase_ids:
                self._by_phrase.setdefault(phrase_id, []).append(i)
            if not leaf._book_regexes:
                continue
            self._with_regex.append(i)
            own = leaf._all_regex_ids
            if own is None:
                self._always.append(i)
                continue
            for regex_id in own[0]:
                self._by_folded.setdefault(regex_id, []).append(i)
            for regex_id in own[1]:
                self._by_cased.setdefault(regex_id, []).append(i)

    def in_play(self, page: Page) -> frozenset[int]:
        """The numbers of the matchers in play on `page`."""
        live = set(self._always)
        by_phrase = self._by_phrase
        for phrase_id in page.phrase_hits(self.book):
            live.update(by_phrase.get(phrase_id, ()))
        if self._with_regex:
            matched = page.regex_hits(self.book)
            if matched is None:
                live.update(self._with_regex)
            else:
                for regex_id in matched[0]:
                    live.update(self._by_folded.get(regex_id, ()))
                for regex_id in matched[1]:
                    live.update(self._by_cased.get(regex_id, ()))
        return frozenset(live)


def compile_text(t: TextMatcher, ctx: CompileContext) -> TextC:
    phrases, regexes = ctx.expand(t.phrases), ctx.expand(t.regex)
    phrases += [form for lemma in ctx.expand(t.lemmas) for form in expand_lemmas(lemma, ctx.data.inflections)]
    return TextC(
        patterns=TextPatterns.build(phrases, regexes),
        phrase_tokens=[phrase_words(p) for p in phrases],
        anchors=frozenset(a.lower() for a in t.anchors),
        has_regex=bool(regexes),
        source_field=t.field,
        window_kind=t.window,
    )


register(MatcherKind(
    name="text",
    options=TextMatcher,
    compile=compile_text,
    matches="`phrases` (word-bounded, case-folded, any whitespace between words), `lemmas` (phrases whose `{braced}` words match every inflected form) and/or `regex` over `field` (`all`, `text`, `title`, `url`)",
    evidence="the sentence around the match (or the page address for `field: url`)",
))
