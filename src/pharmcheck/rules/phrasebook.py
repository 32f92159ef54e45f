"""Rule-set accelerators: every phrase of a rule set in one Aho-Corasick automaton and every
RE2 regex in one RE2::Set, so that a page is scanned once for all rules, not once per rule."""

from __future__ import annotations

from typing import Any

import ahocorasick
import re2

from pharmcheck.rules.textsearch import RE2_SET_TRUSTED_CHARS, Utf8Text

__all__ = ["RE2_SET_TRUSTED_CHARS", "PhraseBook", "RegexSet"]


# Pages a process searches with the automaton before it builds the phrases' RE2::Set (find).
AUTOMATON_PAGES = 12


class PhraseBook:
    """Every phrase of a rule set in one Aho-Corasick automaton (pyahocorasick, C): a page's
    text is scanned once for all phrases of all rules, instead of once per rule."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._automaton = ahocorasick.Automaton()
        self._literals: list[str] = []  # each phrase spelling, by id
        self._literal_set: Any = None  # RE2::Set of the literals, built after AUTOMATON_PAGES pages
        self._pages_searched = 0
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
            self._literals = sorted(self._ids, key=self._ids.__getitem__)  # by id
        self.folded.finish()
        self.cased.finish()

    def _build_literal_set(self) -> Any:
        options = re2.Options()
        options.literal = True
        options.log_errors = False
        options.max_mem = 64 << 20
        literal_set = re2.Set.SearchSet(options)
        for literal in self._literals:
            literal_set.Add(literal)
        literal_set.Compile()
        return literal_set

    def find(self, lowered: str, data: bytes | None = None) -> dict[int, list[tuple[int, int]]]:
        """Word-bounded occurrences of every phrase in `lowered`, by phrase id.

        One RE2::Set pass over the text's bytes says which phrases occur in it at all (as
        substrings: a page holds a handful of the rule set's thousands), and those few are
        then looked for with str.find: several times faster than the automaton's walk of
        every character (~8 ns each), with the same hits. The automaton answers when the set
        cannot: "no match" (also what RE2 says when its DFA runs out of memory, so not
        trusted) or a text that is not valid UTF-8 (lone surrogates), and on the first pages a
        process reads: building the set costs ~9 ms, the automaton ~0.3 ms a page, so a
        `check` of one site never builds it and an audit does at once. `data`: `lowered` in
        UTF-8, if the caller has it."""
        if not self._ids:
            return {}
        literal_set = self._literal_set
        if literal_set is None:
            self._pages_searched += 1
            if self._pages_searched <= AUTOMATON_PAGES:
                return self._find_by_automaton(lowered)
            # (Two threads may both build it: either one is kept.)
            literal_set = self._literal_set = self._build_literal_set()
        try:
            present = literal_set.Match(data if data is not None else lowered.encode("utf-8"))
        except UnicodeEncodeError:
            present = None
        if present is None:
            return self._find_by_automaton(lowered)
        hits: dict[int, list[tuple[int, int]]] = {}
        size = len(lowered)
        find = lowered.find
        for phrase_id in sorted(present):
            literal = self._literals[phrase_id]
            length = len(literal)
            spans = []
            start = find(literal)
            while start >= 0:
                end = start + length
                if end < size:
                    after = lowered[end]
                    if after.isalnum() or after == "_":
                        start = find(literal, start + 1)
                        continue
                if start > 0:
                    before = lowered[start - 1]
                    if before.isalnum() or before == "_":
                        start = find(literal, start + 1)
                        continue
                spans.append((start, end))
                start = find(literal, start + 1)
            if spans:
                hits[phrase_id] = spans
        return hits

    def _find_by_automaton(self, lowered: str) -> dict[int, list[tuple[int, int]]]:
        hits: dict[int, list[tuple[int, int]]] = {}
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
    all (most match nowhere on a given page, and are then not run one by one).

    The set is compiled when the first text is matched, not when the rules load: compiling the
    shipped rules' two sets is ~30 ms, a fifth of the load, and `rules list`, `rules test` of
    one rule, `--version`-like paths and stored-run reports load rules without matching a page.
    (Two threads matching first may both compile it: either set is kept, they are equal.)"""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._sources: list[str] = []
        self._finished = False
        self._set: Any = None

    def add(self, source: str) -> int:
        self._sources.append(self.prefix + source)
        return len(self._sources) - 1

    def finish(self) -> None:
        """No more patterns: the set may be compiled (on first use)."""
        self._finished = True

    def _compiled(self) -> Any:
        built = self._set
        if built is None and self._finished and self._sources:
            built = self._set = self._compile()
        return built

    def _compile(self) -> Any:
        options = re2.Options()
        options.log_errors = False
        options.max_mem = 64 << 20  # room for the DFA of ~200 patterns on large pages
        built = re2.Set.SearchSet(options)
        for source in self._sources:
            built.Add(source)
        built.Compile()
        return built

    def matching(self, text: str, encoded: Utf8Text | None = None) -> frozenset[int] | None:
        """Ids of the patterns that match somewhere in `text` (`encoded`: its UTF-8 form, if
        the caller has it); None: run them all."""
        compiled = self._compiled()
        if compiled is None:
            return None
        found = compiled.Match(encoded.data if encoded is not None else text)
        if found is None and len(text) > RE2_SET_TRUSTED_CHARS:
            # RE2::Set answers "no match" also when its DFA ran out of memory; on long texts
            # that answer is not trusted and every pattern runs.
            return None
        return frozenset(found or ())
