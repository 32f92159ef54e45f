"""Regex machinery shared by the text matchers. Every regex a rule holds runs on RE2 (a DFA:
linear time whatever the page contains); one RE2 cannot run is refused when the rules load.
Case folding keeps the text's length, so match offsets map back without falling back to
`re`. Phrases (escaped literals we generate, never backtracking) are word-bounded `re`
patterns over lower-cased text."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Protocol, cast

import re2

from pharmcheck.extract import word_set

TOKEN = re.compile(r"[a-z0-9]+")
# Past this many characters, an RE2::Set's "no match" is not trusted (its DFA may have run out
# of memory, which it reports the same way).
RE2_SET_TRUSTED_CHARS = 100_000
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a regex RE2 refuses is reported by compile_regex, not on stderr
# One difference from `re` is accepted: RE2's \b and \w know ASCII letters only, so a match
# may start right after an accented letter.


class CompileError(ValueError):
    """A rule's matcher cannot be compiled (bad regex, unknown data list...)."""


def regex_union(patterns: list[str], what: str, flags: int = re.IGNORECASE) -> Searcher | None:
    """The alternation of a rule's `patterns`, on RE2 (CompileError if RE2 cannot run one)."""
    if not patterns:
        return None
    for source in patterns:  # name the one that is wrong, not the alternation
        compile_regex(source, flags, what)
    return compile_regex("|".join(f"(?:{p})" for p in patterns), flags, what)


def compile_regex(source: str, flags: int, what: str) -> Searcher | None:
    """A rule's regex on RE2. Syntax errors are reported in Python's words (the dialect the
    rules are written in); a regex RE2 cannot run (look-arounds, back-references) is refused
    rather than run on backtracking `re`, where one page could hold a check for minutes.

    A regex the current `RegexLedger` knows passed both checks before (the same rules loaded
    by an earlier process) is not checked again: it is compiled on first use (LazyRE2)."""
    if not source:
        return None
    full = ("(?i)" if flags & re.IGNORECASE else "") + source
    ledger = _LEDGER.get()
    if ledger is not None and (int(flags), source) in ledger.known:
        ledger.passed.add((int(flags), source))
        return LazyRE2(full)
    try:
        re.compile(source, flags)
    except re.error as exc:
        raise CompileError(f"{what}: bad regular expression: {exc}") from exc
    try:
        compiled = cast(Searcher, re2.compile(full, options=_RE2_OPTIONS))
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise CompileError(f"{what}: regular expression {source[:120]!r} cannot run on RE2 ({reason}); "
                           "rules use RE2 (linear time): rewrite it without look-arounds or back-references") from exc
    if ledger is not None:
        ledger.passed.add((int(flags), source))
    return compiled


class LazyRE2:
    """An RE2 regex already known to compile, compiled when first searched: most of a rule
    set's regexes never run on a given run (the page-wide RegexSet pass rules them out), so
    compiling them all was a sixth of loading the rules. Two threads racing to compile it
    build equal objects; either is kept."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled: Any = None

    def _regex(self) -> Any:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re2.compile(self.pattern, options=_RE2_OPTIONS)
        return compiled

    def search(self, text: str, pos: int | None = None, endpos: int | None = None) -> Any:
        return self._regex().search(text, pos, endpos)

    def finditer(self, text: str, pos: int | None = None, endpos: int | None = None) -> Iterator[Any]:
        return cast(Iterator[Any], self._regex().finditer(text, pos, endpos))


@dataclass
class RegexLedger:
    """The rule regexes known to pass compile_regex's checks (`known`, from an earlier load of
    the same rules folder), and those that passed during this load (`passed`)."""

    known: frozenset[tuple[int, str]] = frozenset()
    passed: set[tuple[int, str]] = field(default_factory=set)


_LEDGER: ContextVar[RegexLedger | None] = ContextVar("pharmcheck_regex_ledger", default=None)


@contextmanager
def regex_ledger(known: frozenset[tuple[int, str]]) -> Iterator[RegexLedger]:
    """Within the block, compile_regex trusts the regexes in `known` and records every regex
    that passed; the block's ledger is yielded (the caller stores `passed` for next time)."""
    ledger = RegexLedger(known)
    token = _LEDGER.set(ledger)
    try:
        yield ledger
    finally:
        _LEDGER.reset(token)


def phrases_regex(phrases: list[str]) -> re.Pattern[str] | None:
    kept = [phrase_pattern(p) for p in phrases if p.strip()]
    return re.compile("|".join(f"(?:{p})" for p in kept), re.IGNORECASE) if kept else None


# The one character whose lower case is longer than itself (U+0130, dotted capital I, lowers
# to "i" + combining dot): folded to plain "i" so folding never moves an offset.
_LENGTH_CHANGING_LOWER = str.maketrans({"\u0130": "i"})


def fold_case(text: str) -> str:
    """`text` lower-cased, character for character: same length, same offsets."""
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_LENGTH_CHANGING_LOWER).lower()


_PHRASE_SEPARATORS = re.compile(r"[\s\-]+")


# A rule set's phrases are mostly the same data lists expanded into many rules (8,430 phrases,
# 2,068 distinct, in the shipped rules): each phrase's literal and words are worked out once.
@lru_cache(maxsize=1 << 16)
def phrase_literal(phrase: str) -> str:
    """A phrase lower-cased, its words joined by single spaces (hyphens count as spaces)."""
    return " ".join(w for w in _PHRASE_SEPARATORS.split(phrase.strip().lower()) if w)


@lru_cache(maxsize=1 << 16)
def phrase_words(phrase: str) -> frozenset[str]:
    """The ASCII words a page must hold for `phrase` to occur in it."""
    return frozenset(TOKEN.findall(phrase.lower()))


def phrase_pattern(phrase: str) -> str:
    words = phrase.strip().split()
    body = r"\s+".join(re.escape(w) for w in words)
    return rf"(?<!\w){body}(?!\w)"


_WORD_CHAR = re.compile(r"\w")


def _left_is_word(text: str, start: int) -> bool:
    return start > 0 and _WORD_CHAR.match(text, start - 1) is not None


def _lead_stripped(sources: list[str], flags: int) -> list[tuple[Searcher, bool]]:
    """Each regex compiled on its own, on RE2 (the flag, True for a pattern whose leading \b
    is checked by hand, is kept for the stream helpers; RE2 patterns never need it)."""
    out: list[tuple[Searcher, bool]] = []
    for source in sources:
        pattern = compile_regex(source, flags, "text")
        if pattern is not None:
            out.append((pattern, False))
    return out


class Searcher(Protocol):
    """What the engine needs of a compiled regex; `re` and RE2 patterns both provide it."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str, pos: int = ..., endpos: int = ...) -> Any: ...

    def finditer(self, text: str, pos: int = ..., endpos: int = ...) -> Iterator[Any]: ...


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a regex RE2 refuses is reported by compile_regex, not on stderr
# One difference from `re` is accepted: RE2's \\b and \\w know ASCII letters only, so a match
# may start right after an accented letter.


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


def _finds(pattern: Searcher, text: str, encoded: Utf8Text | None = None) -> Iterator[tuple[int, int]]:
    if isinstance(pattern, re.Pattern):
        return (m.span() for m in pattern.finditer(text))
    return _re2_spans(pattern, text, encoded)


# A text's character offsets are counted from the nearest of these byte checkpoints (a
# multiple of it, moved to the next character's start) by decoding the bytes in between.
_UTF8_CHECKPOINT = 4096


class Utf8Text:
    """A text's UTF-8 bytes, for RE2 (which searches bytes: given a str, the re2 module encodes
    it on every call, ~0.7 ns a byte of an ASCII text and ~25 ns a character of any other), and
    the map from the byte offsets of its matches back to character offsets: none for an ASCII
    text; otherwise the characters up to a checkpoint every 4 KB, counted once, plus those
    decoded between the checkpoint and the offset (at most 4 KB, instead of everything since
    the previous match). A page's texts are encoded once and shared by all its rules."""

    __slots__ = ("_checkpoints", "data", "is_ascii")

    def __init__(self, data: bytes, length: int) -> None:
        self.data = data
        self.is_ascii = len(data) == length
        self._checkpoints: list[tuple[int, int]] | None = None  # (byte offset, characters before it)

    @classmethod
    def of(cls, text: str) -> Utf8Text | None:
        """`text` encoded; None if it cannot be (lone surrogates): then it is searched as str."""
        try:
            return cls(text.encode("utf-8"), len(text))
        except UnicodeEncodeError:
            return None

    def char_offset(self, byte_offset: int) -> int:
        """The character offset of `byte_offset`, a character boundary (where RE2 matches start and end)."""
        if self.is_ascii:
            return byte_offset
        checkpoints = self._checkpoints
        if checkpoints is None:
            checkpoints = self._checkpoints = self._count_checkpoints()
        k = byte_offset // _UTF8_CHECKPOINT
        at, chars = checkpoints[k]
        if at > byte_offset:  # the checkpoint moved past it, to the next character start
            at, chars = checkpoints[k - 1]
        return chars + len(self.data[at:byte_offset].decode("utf-8"))

    def _count_checkpoints(self) -> list[tuple[int, int]]:
        data = self.data
        size = len(data)
        out = [(0, 0)]
        at = chars = 0
        for k in range(1, size // _UTF8_CHECKPOINT + 1):
            nxt = k * _UTF8_CHECKPOINT
            while nxt < size and data[nxt] & 0xC0 == 0x80:  # a continuation byte: not a start
                nxt += 1
            chars += len(data[at:nxt].decode("utf-8"))
            at = nxt
            out.append((at, chars))
        return out


def _re2_spans(pattern: Searcher, text: str, encoded: Utf8Text | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of the matches of an RE2 pattern, as `finditer(text)` gives them, searched
    in the text's UTF-8 bytes (`encoded`, if the caller has them). The re2 module turns each
    match's byte offsets back into character offsets by counting characters from the previous
    match, ~4 ns a byte (0.14 ms for one match at the end of a 32 KB page); Utf8Text maps them
    with at most 4 KB decoded (none for an ASCII text). The steps between searches are re2's
    own (after an empty match, one character on)."""
    if encoded is None:
        encoded = Utf8Text.of(text)
        if encoded is None:
            yield from (m.span() for m in pattern.finditer(text))  # fails as re2 itself fails
            return
    data = encoded.data
    search = pattern.search
    size = len(data)
    ascii_text = encoded.is_ascii
    char_offset = encoded.char_offset
    pos = 0
    while (m := search(data, pos)) is not None:  # type: ignore[arg-type]
        start, end = m.span()
        yield (start, end) if ascii_text else (char_offset(start), char_offset(end))
        if pos == size:
            break
        if pos == end:  # an empty match where the search began
            lead = data[pos]
            pos += 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        else:
            pos = end


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

    phrase_literals: list[str]  # each phrase lower-cased, words joined by single spaces
    phrase_words: list[frozenset[str]]  # per phrase: the words it needs on the page
    folded: list[tuple[Searcher, bool]]  # regexes for lower-case text; True: check left boundary
    cased: list[tuple[Searcher, bool]]  # regexes with (?-i:...) groups, for the original text
    # Ids of the RE2 patterns in the rule set's RegexSets (-1: an `re` pattern), set by
    # attach_phrase_book; a pattern the page-wide set pass did not match is not run at all.
    folded_ids: list[int] = field(default_factory=list)
    cased_ids: list[int] = field(default_factory=list)
    _subsets: dict[tuple[int, ...], re.Pattern[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, phrases: list[str], regexes: list[str]) -> TextPatterns:
        kept = [p for p in phrases if p.strip()]
        folded = [r for r in regexes if "(?-i:" not in r]
        cased = [r for r in regexes if "(?-i:" in r]
        return cls(
            phrase_literals=[phrase_literal(p) for p in kept],
            phrase_words=[phrase_words(p) for p in kept],
            folded=_lead_stripped(folded, 0),
            cased=_lead_stripped(cased, re.IGNORECASE),
        )

    @cached_property
    def phrase_bodies(self) -> list[str]:
        """One regex body per phrase, for lower-case text: its words escaped, joined by any
        run of spaces and hyphens. Built on first use (most matchers never need them: the rule
        set's phrase automaton finds their phrases); no phrase can make a bad regex, so none
        is compiled to check it."""
        return [r"[\s\-]+".join(re.escape(w) for w in literal.split(" ")) for literal in self.phrase_literals]

    def _phrase_patterns(self, words: frozenset[str] | None) -> re.Pattern[str] | None:
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
            cached = re.compile(source)
            if len(self._subsets) < 256:
                self._subsets[chosen] = cached
        return cached

    def spans(
        self,
        text: str,
        lowered: str,
        words: frozenset[str] | None = None,
        with_phrases: bool = True,
        matched: tuple[frozenset[int], frozenset[int]] | None = None,
        encoded: tuple[Utf8Text | None, Utf8Text | None] | None = None,
    ) -> Iterator[tuple[int, int]]:
        """(start, end) of every match in `text`, in order, lazily (callers stop after a few).
        `lowered`: fold_case(text); `words`: the words of
        the text, if known (only phrases made of them are searched); `matched`: the ids of the
        RE2 patterns (lower-case text, original text) that match somewhere on the page;
        `encoded`: the UTF-8 forms of `lowered` and `text`, if the caller has them."""
        phrases = self._phrase_patterns(words) if self.phrase_bodies and with_phrases else None
        streams: list[Iterator[tuple[int, int]]] = []
        if phrases is not None:
            streams.append(_bounded(phrases, lowered, exact=False))
        low_utf8, text_utf8 = encoded or (None, None)
        streams += self._regex_streams(self.folded, self.folded_ids, matched and matched[0], lowered, low_utf8)
        streams += self._regex_streams(self.cased, self.cased_ids, matched and matched[1], text, text_utf8)
        # Each stream is in order and lazy: merging them lets the caller stop early.
        yield from heapq.merge(*streams, key=span_order)

    @staticmethod
    def _regex_streams(
        patterns: list[tuple[Searcher, bool]], ids: list[int], matched: frozenset[int] | None, text: str,
        encoded: Utf8Text | None = None,
    ) -> list[Iterator[tuple[int, int]]]:
        """One stream per regex, leaving out the RE2 ones the page-wide set pass ruled out."""
        streams = []
        for i, (pattern, lead) in enumerate(patterns):
            if matched is not None and ids and ids[i] >= 0 and ids[i] not in matched:
                continue
            streams.append(_bounded(pattern, text) if lead else _finds(pattern, text, encoded))
        return streams

    def search(self, text: str) -> bool:
        # Phrases with a word the text lacks cannot match there (vetoes look at a sentence:
        # usually none of their phrases qualifies, and no phrase is scanned for at all).
        lowered = fold_case(text)
        return next(self.spans(text, lowered, word_set(lowered) if self.phrase_literals else None), None) is not None

    def found_in(self, text: str, lowered: str, words: frozenset[str]) -> bool:
        """search(text), given fold_case(text) and its words: phrases with a word the text
        lacks cannot match there, and are left out of the scan."""
        return next(self.spans(text, lowered, words), None) is not None
