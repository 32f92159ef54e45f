"""Rule-set accelerators: every phrase of a rule set in one Aho-Corasick automaton and every
RE2 regex in one RE2::Set, so that a page is scanned once for all rules, not once per rule."""

from __future__ import annotations

from typing import Any

import ahocorasick
import re2

from pharmcheck.rules.textsearch import RE2_SET_TRUSTED_CHARS

__all__ = ["RE2_SET_TRUSTED_CHARS", "PhraseBook", "RegexSet"]


class PhraseBook:
    """Every phrase of a rule set in one Aho-Corasick automaton (pyahocorasick, C): a page's
    text is scanned once for all phrases of all rules, instead of once per rule."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._automaton = ahocorasick.Automaton()
        self.folded = RegexSet()  # RE2 regexes over the lower-cased page text
        self.cased = RegexSet("(?i)")  # RE2 regexes with case-sensitive parts, over the original

    def add(self, literal: str) -> list[int]:
        """Ids of the spellings of a phrase: words joined by spaces, and by hyphens."""
        out = []
        for variant in {literal, literal.replace(" ", "-")}:
            if variant not in self._ids:
                self._ids[variant] = len(self._ids)
                self._automaton.add_word(variant, (self._ids[variant], len(variant)))
            out.append(self._ids[variant])
        return out

    def finish(self) -> None:
        if self._ids:
            self._automaton.make_automaton()
        self.folded.finish()
        self.cased.finish()

    def find(self, lowered: str) -> dict[int, list[tuple[int, int]]]:
        hits: dict[int, list[tuple[int, int]]] = {}
        if not self._ids:
            return hits
        size = len(lowered)
        get = hits.get
        for last, (phrase_id, length) in self._automaton.iter(lowered):
            # The end first: most hits that are not word-bounded are a word's start ("order"
            # in "orders").
            end = last + 1
            if end < size:
                after = lowered[end]
                if after.isalnum() or after == "_":
                    continue
            start = end - length
            if start > 0:
                before = lowered[start - 1]
                if before.isalnum() or before == "_":
                    continue
            spans = get(phrase_id)
            if spans is None:
                hits[phrase_id] = [(start, end)]
            else:
                spans.append((start, end))
        return hits


class RegexSet:
    """Many RE2 regexes in one RE2::Set: one linear pass tells which of them match a text at
    all (most match nowhere on a given page, and are then not run one by one)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._sources: list[str] = []
        self._set: Any = None

    def add(self, source: str) -> int:
        self._sources.append(self.prefix + source)
        return len(self._sources) - 1

    def finish(self) -> None:
        if not self._sources:
            return
        options = re2.Options()
        options.log_errors = False
        options.max_mem = 64 << 20  # room for the DFA of ~200 patterns on large pages
        built = re2.Set.SearchSet(options)
        for source in self._sources:
            built.Add(source)
        built.Compile()
        self._set = built

    def matching(self, text: str) -> frozenset[int] | None:
        """Ids of the patterns that match somewhere in `text`; None: run them all."""
        if self._set is None:
            return None
        found = self._set.Match(text)
        if found is None and len(text) > RE2_SET_TRUSTED_CHARS:
            # RE2::Set answers "no match" also when its DFA ran out of memory; on long texts
            # that answer is not trusted and every pattern runs.
            return None
        return frozenset(found or ())
