"""Regex machinery shared by the text matchers: RE2 where it has the same meaning as `re`
(a DFA, one linear pass), `re` otherwise, word boundaries checked by hand where a leading \\b
would stop `re` from skipping ahead, phrases as word-bounded patterns over lower-cased text."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import re2

TOKEN = re.compile(r"[a-z0-9]+")


class CompileError(ValueError):
    """A rule's matcher cannot be compiled (bad regex, unknown data list...)."""


def regex_union(patterns: list[str], what: str, flags: int = re.IGNORECASE) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return compile_regex("|".join(f"(?:{p})" for p in patterns), flags, what)


def compile_regex(source: str, flags: int, what: str) -> re.Pattern[str] | None:
    if not source:
        return None
    try:
        return re.compile(source, flags)
    except re.error as exc:
        raise CompileError(f"{what}: bad regular expression: {exc}") from exc


def phrases_regex(phrases: list[str]) -> re.Pattern[str] | None:
    return regex_union([phrase_pattern(p) for p in phrases if p.strip()], "phrases")


def phrase_pattern(phrase: str) -> str:
    words = phrase.strip().split()
    body = r"\s+".join(re.escape(w) for w in words)
    return rf"(?<!\w){body}(?!\w)"


_WORD_CHAR = re.compile(r"\w")


def _left_is_word(text: str, start: int) -> bool:
    return start > 0 and _WORD_CHAR.match(text, start - 1) is not None


def _lead_stripped(sources: list[str], flags: int) -> list[tuple[Searcher, bool]]:
    """Each regex compiled on its own: with RE2 where it can (a DFA: one linear pass, ~10x
    faster than `re` on patterns that start with an alternation), else with `re`, where a
    leading \b stops `re` from skipping ahead to the possible first characters, so it is
    dropped and checked in Python (flag True)."""
    out: list[tuple[Searcher, bool]] = []
    for source in sources:
        compile_regex(source, flags, "text")  # errors are reported with Python's regex rules
        fast = _re2_compile(source, flags)
        if fast is not None:
            out.append((fast, False))
            continue
        lead = source.startswith("\\b") and not _has_top_level_bar(source)
        pattern = compile_regex(source[2:] if lead else source, flags, "text")
        if pattern is not None:
            out.append((pattern, lead))
    return out


class Searcher(Protocol):
    """What the engine needs of a compiled regex; `re` and RE2 patterns both provide it."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str, pos: int = ..., endpos: int = ...) -> Any: ...

    def finditer(self, text: str, pos: int = ..., endpos: int = ...) -> Iterator[Any]: ...


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # patterns RE2 cannot run (look-arounds) quietly fall back to `re`


def _re2_compile(source: str, flags: int) -> Searcher | None:
    """`source` for RE2, where it has the same meaning: RE2 refuses look-arounds and
    back-references (those stay with `re`). One difference is accepted: RE2's \\b and \\w
    know ASCII letters only, so a match may start right after an accented letter."""
    try:
        return cast(Searcher, re2.compile(("(?i)" if flags & re.IGNORECASE else "") + source, options=_RE2_OPTIONS))
    except re2.error:
        return None


def _has_top_level_bar(source: str) -> bool:
    """Whether a regex is an alternation at its top level (then a leading \\b is not global)."""
    depth, in_class, escaped = 0, False, False
    for ch in source:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return True
    return False


def _at_boundary(text: str, start: int) -> bool:
    """What a leading \\b asserts: word and non-word characters meet at `start`."""
    right = start < len(text) and _WORD_CHAR.match(text, start) is not None
    return _left_is_word(text, start) != right


def _bounded(pattern: Searcher, text: str, exact: bool = True) -> Iterator[tuple[int, int]]:
    """Matches of `pattern` that start at a word boundary (exact: as \\b; otherwise: no word
    character before, as a phrase needs); after a match that does not, the search resumes one
    character later, so no overlapping match is lost."""
    pos = 0
    search = pattern.search
    while (m := search(text, pos)) is not None:
        start, end = m.span()
        if not _at_boundary(text, start) if exact else _left_is_word(text, start):
            pos = start + 1
            continue
        yield start, end
        pos = end if end > start else start + 1


def _finds(pattern: Searcher, text: str) -> Iterator[tuple[int, int]]:
    return (m.span() for m in pattern.finditer(text))


def span_order(span: tuple[int, int]) -> tuple[int, int]:
    return span[0], -span[1]

@dataclass
class TextPatterns:
    """The compiled forms of a text matcher.

    For the rules as loaded, a page's phrases are found by the rule set's one Aho-Corasick pass
    (PhraseBook) and its regexes run on RE2, after one RE2::Set pass per page has ruled most
    out. What is compiled here serves that path (regexes), `unless` vetoes on short windows,
    and matchers compiled on their own: phrases as one `re` alternation of those whose words
    are on the page, on lower-cased text. Regexes with a case-sensitive group `(?-i:...)` run
    on the original text, case-insensitively.
    """

    phrase_bodies: list[str]  # one regex body per phrase, for lower-case text
    phrase_literals: list[str]  # each phrase lower-cased, words joined by single spaces
    phrase_words: list[frozenset[str]]  # per phrase: the words it needs on the page
    folded: list[tuple[Searcher, bool]]  # regexes for lower-case text; True: check left boundary
    cased: list[tuple[Searcher, bool]]  # regexes with (?-i:...) groups, for the original text
    folded_ci: re.Pattern[str] | None  # fallback when lower() changes the text's length
    # Ids of the RE2 patterns in the rule set's RegexSets (-1: an `re` pattern), set by
    # attach_phrase_book; a pattern the page-wide set pass did not match is not run at all.
    folded_ids: list[int] = field(default_factory=list)
    cased_ids: list[int] = field(default_factory=list)
    _subsets: dict[tuple[int, ...], tuple[re.Pattern[str], re.Pattern[str]]] = field(default_factory=dict)

    @classmethod
    def build(cls, phrases: list[str], regexes: list[str]) -> TextPatterns:
        kept = [p for p in phrases if p.strip()]
        bodies = [r"[\s\-]+".join(re.escape(w.lower()) for w in re.split(r"[\s\-]+", p.strip()) if w) for p in kept]
        if bodies:
            compile_regex(f"(?:{'|'.join(bodies)})", 0, "phrases")  # report a bad phrase at load time
        folded = [r for r in regexes if "(?-i:" not in r]
        cased = [r for r in regexes if "(?-i:" in r]
        return cls(
            phrase_bodies=bodies,
            phrase_literals=[" ".join(w for w in re.split(r"[\s\-]+", p.strip().lower()) if w) for p in kept],
            phrase_words=[frozenset(TOKEN.findall(p.lower())) for p in kept],
            folded=_lead_stripped(folded, 0),
            cased=_lead_stripped(cased, re.IGNORECASE),
            folded_ci=regex_union(folded, "text"),
        )

    def _phrase_patterns(self, words: frozenset[str] | None) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
        """The alternation of the phrases whose words are all in `words` (None: all phrases).

        Usually one or two phrases qualify, and an alternation of one literal is a pattern `re`
        can skip through quickly; the compiled subsets are cached per matcher."""
        if words is None:
            chosen = tuple(range(len(self.phrase_bodies)))
        else:
            chosen = tuple(i for i, need in enumerate(self.phrase_words) if need <= words)
        if not chosen:
            return None
        cached = self._subsets.get(chosen)
        if cached is None:
            source = f"(?:{'|'.join(self.phrase_bodies[i] for i in chosen)})(?!\\w)"
            cached = (re.compile(source), re.compile(source, re.IGNORECASE))
            if len(self._subsets) < 256:
                self._subsets[chosen] = cached
        return cached

    def spans(
        self,
        text: str,
        lowered: str | None,
        words: frozenset[str] | None = None,
        with_phrases: bool = True,
        matched: tuple[frozenset[int], frozenset[int]] | None = None,
    ) -> Iterator[tuple[int, int]]:
        """(start, end) of every match in `text`, in order, lazily (callers stop after a few).
        `lowered`: `text` lower-cased, or None if that changed its length; `words`: the words of
        the text, if known (only phrases made of them are searched); `matched`: the ids of the
        RE2 patterns (lower-case text, original text) that match somewhere on the page."""
        phrases = self._phrase_patterns(words) if self.phrase_bodies and with_phrases else None
        streams: list[Iterator[tuple[int, int]]] = []
        if lowered is not None:
            if phrases is not None:
                streams.append(_bounded(phrases[0], lowered, exact=False))
            streams += self._regex_streams(self.folded, self.folded_ids, matched and matched[0], lowered)
        else:
            if phrases is not None:
                streams.append(_bounded(phrases[1], text, exact=False))
            if self.folded_ci is not None:  # the original regexes, leading \b included
                streams.append(_finds(self.folded_ci, text))
        streams += self._regex_streams(self.cased, self.cased_ids, matched and matched[1], text)
        # Each stream is in order and lazy: merging them lets the caller stop early.
        yield from heapq.merge(*streams, key=span_order)

    @staticmethod
    def _regex_streams(
        patterns: list[tuple[Searcher, bool]], ids: list[int], matched: frozenset[int] | None, text: str
    ) -> list[Iterator[tuple[int, int]]]:
        """One stream per regex, leaving out the RE2 ones the page-wide set pass ruled out."""
        streams = []
        for i, (pattern, lead) in enumerate(patterns):
            if matched is not None and ids and ids[i] >= 0 and ids[i] not in matched:
                continue
            streams.append(_bounded(pattern, text) if lead else _finds(pattern, text))
        return streams

    def search(self, text: str) -> bool:
        lowered = text.lower()
        return next(self.spans(text, lowered if len(lowered) == len(text) else None), None) is not None
