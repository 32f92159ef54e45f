"""Rule engine: compiled matchers evaluated over a site's pages, producing findings with evidence.

Every matcher returns the evidence it found (page URL + words in context) or None. Text
matchers prefilter on the page's word set, so rules whose words are absent cost a set
lookup, not a regex scan (see benchmarks/analysis.py).
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, cast
from urllib.parse import unquote

import ahocorasick
import re2

from pharmcheck.models import Evidence, Finding, PageFacts, SiteFacts
from pharmcheck.rules.schema import Matcher, Rule, RuleSetData, SealIssuer
from pharmcheck.urls import registrable_domain

MAX_EVIDENCE = 5
RE2_SET_TRUSTED_CHARS = 100_000
CONTEXT_CHARS = 200
_TOKEN = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"[.!?;](?:\s|$)|\n")

# Evidence of the rules that fired so far, by rule id (what `fired` matchers read).
Fired = dict[str, list[Evidence]]


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
        """Words on the page (a superset is fine: they only decide what is worth searching)."""
        url_words = frozenset(_TOKEN.findall(self.url_text.lower()))
        if self.facts.words:
            return self.facts.words | url_words
        return frozenset(_TOKEN.findall(self.all_text.lower())) | url_words

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

    def lowered(self, name: str) -> str | None:
        """The field's text in lower case, or None if lower-casing changed its length (offsets
        would no longer match; the caller then runs case-insensitive patterns on the original)."""
        cached = self._lowered.get(name)
        if cached is None:
            text = self.field_text(name)
            low = text.lower()
            cached = self._lowered[name] = (low if len(low) == len(text) else "", len(low) == len(text))
        return cached[0] if cached[1] else None

    @cached_property
    def _lowered(self) -> dict[str, tuple[str, bool]]:
        return {}

    @cached_property
    def label_tokens(self) -> frozenset[str]:
        """Words of image labels and of link texts and addresses (where seals live)."""
        parts = [f"{i.alt} {i.title} {i.src}" for i in self.facts.images]
        parts += [link.text for link in self.facts.links]
        # Addresses only of links to other sites: a seal's link leaves the site.
        parts += [
            link.url
            for link, domain in zip(self.facts.links, self.link_domain_list, strict=True)
            if domain and domain != self.site_domain
        ]
        return frozenset(_TOKEN.findall(" ".join(parts).lower()))

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
            hits = self._phrase_hits[id(book)] = book.find(low) if low is not None else {}
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
            folded = book.folded.matching(low) if low is not None else None
            cased = book.cased.matching(self.all_text)
            self._phrase_hits_regex[key] = None if folded is None or cased is None else (folded, cased)
        return self._phrase_hits_regex[key]

    @cached_property
    def _phrase_hits_regex(self) -> dict[int, tuple[frozenset[int], frozenset[int]] | None]:
        return {}

    @cached_property
    def link_texts(self) -> str:
        return "\n".join(link.text for link in self.facts.links)

    @cached_property
    def link_domains(self) -> frozenset[str]:
        return frozenset(self.link_domain_list) - {""}

    @cached_property
    def seal_claims(self) -> dict[str, list[tuple[str, str | None]]]:
        """Seal claims per issuer id, shared by the verified/unverified/mismatch rules."""
        return {}


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

    def on_site(self, pages: list[Page], fired: Fired) -> list[Evidence] | None:
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
        _compile(source, flags, "text")  # errors are reported with Python's regex rules
        fast = _re2_compile(source, flags)
        if fast is not None:
            out.append((fast, False))
            continue
        lead = source.startswith("\\b") and not _has_top_level_bar(source)
        pattern = _compile(source[2:] if lead else source, flags, "text")
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


def _span_order(span: tuple[int, int]) -> tuple[int, int]:
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
            _compile(f"(?:{'|'.join(bodies)})", 0, "phrases")  # report a bad phrase at load time
        folded = [r for r in regexes if "(?-i:" not in r]
        cased = [r for r in regexes if "(?-i:" in r]
        return cls(
            phrase_bodies=bodies,
            phrase_literals=[" ".join(w for w in re.split(r"[\s\-]+", p.strip().lower()) if w) for p in kept],
            phrase_words=[frozenset(_TOKEN.findall(p.lower())) for p in kept],
            folded=_lead_stripped(folded, 0),
            cased=_lead_stripped(cased, re.IGNORECASE),
            folded_ci=_re(folded, "text"),
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
        yield from heapq.merge(*streams, key=_span_order)

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
        for last, (phrase_id, length) in self._automaton.iter(lowered):
            start, end = last - length + 1, last + 1
            if start > 0 and (lowered[start - 1].isalnum() or lowered[start - 1] == "_"):
                continue
            if end < size and (lowered[end].isalnum() or lowered[end] == "_"):
                continue
            hits.setdefault(phrase_id, []).append((start, end))
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


def attach_phrase_book(rules: list[CompiledRule]) -> PhraseBook:
    """Give every primary text matcher of `rules` the shared phrase automaton and regex sets."""
    book = PhraseBook()
    for cr in rules:
        for leaf in _text_leaves(cr.matcher):
            patterns = leaf.patterns
            leaf.phrase_ids = [book.add(lit) for lit in patterns.phrase_literals]
            patterns.folded_ids = [-1 if isinstance(p, re.Pattern) else book.folded.add(p.pattern) for p, _ in patterns.folded]
            patterns.cased_ids = [-1 if isinstance(p, re.Pattern) else book.cased.add(_strip_ci(p.pattern)) for p, _ in patterns.cased]
            leaf.book = book
    book.finish()
    return book


def _strip_ci(source: str) -> str:
    return source[4:] if source.startswith("(?i)") else source


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

    def _candidate(self, page: Page) -> bool:
        if (
            self.book is not None
            and self.source_field == "all"
            and not self._book_regexes
            and page.lowered("all") is not None  # else the automaton pass was not made
        ):
            # Phrases only: the page's automaton pass already says whether any is there.
            hits = page.phrase_hits(self.book)
            return not self._all_phrase_ids.isdisjoint(hits)
        tokens = page.tokens
        if self.has_regex and (not self.anchors or not self.anchors.isdisjoint(tokens)):
            return True
        return any(t <= tokens for t in self.phrase_tokens)

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
            spans = self.patterns.spans(text, lowered, page.tokens)
        for start, end in spans:
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
        phrase_spans = sorted((span for ids in self.phrase_ids for i in ids for span in hits.get(i, ())), key=_span_order)
        merged: Iterable[tuple[int, int]] = phrase_spans
        if self.has_regex:
            # RE2 patterns the page-wide set pass did not match are skipped; the others (and
            # the rare `re` ones) make one pass each.
            regex_spans = self.patterns.spans(
                text, lowered, page.tokens, with_phrases=False, matched=page.regex_hits(self.book)
            )
            merged = heapq.merge(phrase_spans, regex_spans, key=_span_order)
        last_end = -1
        for span in merged:
            if span[0] >= last_end:
                last_end = span[1]
                yield span

    def matches_in(self, text: str) -> bool:
        return self.patterns.search(text)


@dataclass
class LinkC(Compiled):
    href: re.Pattern[str] | None
    text: TextPatterns | None
    domains: frozenset[str]
    offsite: bool | None

    def on_page(self, page: Page) -> list[Evidence] | None:
        if self.domains and page.link_domains.isdisjoint(self.domains):
            return None
        if self.text is not None and not self.text.search(page.link_texts):
            return None  # one scan of all link texts instead of one per link
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

    def on_site(self, pages: list[Page], fired: Fired) -> list[Evidence] | None:
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
class ContactC(Compiled):
    email: bool | None
    phone: bool | None
    email_domains: frozenset[str]

    def on_page(self, page: Page) -> list[Evidence] | None:
        emails, phones = page.facts.emails, page.facts.phones
        if self.email is not None and bool(emails) != self.email:
            return None
        if self.phone is not None and bool(phones) != self.phone:
            return None
        if self.email_domains:
            emails = [e for e in emails if e.rsplit("@", 1)[-1] in self.email_domains]
            if not emails:
                return None
        shown = [f"e-mail {e}" for e in emails[:3]] + [f"phone {p}" for p in phones[:3] if self.phone]
        return [Evidence(url=page.facts.url, text="; ".join(shown) or "no contact details")]


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
    issuers: list[tuple[SealIssuer, re.Pattern[str], list[re.Pattern[str]]]]
    outcome: str

    @staticmethod
    def _may_claim(page: Page, issuer: SealIssuer) -> bool:
        """Cheap test first: most pages name no issuer and link to none."""
        tokens = page.label_tokens
        if any(set(_TOKEN.findall(w.lower())) <= tokens for w in issuer.words):
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


@dataclass
class FiredC(Compiled):
    ids: frozenset[str]

    def on_page(self, page: Page) -> list[Evidence] | None:
        return None

    def on_site(self, pages: list[Page], fired: Fired) -> list[Evidence] | None:
        # The evidence of a site rule built on other rules is theirs: the reader sees the pages
        # and words that made them fire, not just a rule name.
        if not self.ids <= fired.keys():
            return None
        return [ev for rule_id in sorted(self.ids) for ev in fired[rule_id][:2]]


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

    def on_site(self, pages: list[Page], fired: Fired) -> list[Evidence] | None:
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

    def on_site(self, pages: list[Page], fired: Fired) -> list[Evidence] | None:
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

    def on_site(self, pages: list[Page], fired: Fired) -> list[Evidence] | None:
        return [] if self.inner.on_site(pages, fired) is None else None


# --- compilation ---------------------------------------------------------------------------


class CompileError(ValueError):
    pass


def _re(patterns: list[str], what: str, flags: int = re.IGNORECASE) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return _compile("|".join(f"(?:{p})" for p in patterns), flags, what)


def _compile(source: str, flags: int, what: str) -> re.Pattern[str] | None:
    if not source:
        return None
    try:
        return re.compile(source, flags)
    except re.error as exc:
        raise CompileError(f"{what}: bad regular expression: {exc}") from exc


def _phrases_re(phrases: list[str]) -> re.Pattern[str] | None:
    return _re([phrase_pattern(p) for p in phrases if p.strip()], "phrases")


def compile_matcher(m: Matcher, data: RuleSetData) -> Compiled:
    def lst(value: list[str] | str, seen: tuple[str, ...] = ()) -> list[str]:
        """A list field's items, with "@name" data lists expanded (they may name others)."""
        if isinstance(value, str):
            if not value.startswith("@"):
                return [value]
            name = value[1:]
            if name not in data.lists:
                raise CompileError(f"unknown data list {value!r} (rules/data/*.yaml)")
            if name in seen:
                raise CompileError(f"data list {value!r} includes itself")
            return lst(data.lists[name], (*seen, name))
        out: list[str] = []
        for item in value:
            out.extend(lst(item, seen))
        return out

    kind = m.kind
    if kind == "text" and m.text is not None:
        t = m.text
        phrases, regexes = lst(t.phrases), lst(t.regex)
        return TextC(
            patterns=TextPatterns.build(phrases, regexes),
            phrase_tokens=[frozenset(_TOKEN.findall(p.lower())) for p in phrases],
            anchors=frozenset(a.lower() for a in t.anchors),
            has_regex=bool(regexes),
            source_field=t.field,
            window_kind=t.window,
        )
    if kind == "link" and m.link is not None:
        link_text = lst(m.link.text)
        return LinkC(_re(lst(m.link.href), "link.href"), TextPatterns.build(link_text, []) if link_text else None,
                     frozenset(d.lower() for d in lst(m.link.domain)), m.link.offsite)
    if kind == "image" and m.image is not None:
        return ImageC(_phrases_re(lst(m.image.words)), m.image.linked, frozenset(d.lower() for d in lst(m.image.link_domain)))
    if kind == "form" and m.form is not None:
        return FormC(m.form.file_upload, _re(lst(m.form.field), "form.field"))
    if kind == "jsonld" and m.jsonld is not None:
        return JsonLdC(frozenset(lst(m.jsonld.type)), m.jsonld.has, _phrases_re(lst(m.jsonld.contains)))
    if kind == "drug" and m.drug is not None:
        return DrugC(frozenset(m.drug.schedule), frozenset(m.drug.category), m.drug.min)
    if kind == "price" and m.price is not None:
        return PriceC(m.price.min)
    if kind == "domain" and m.domain is not None:
        return DomainC(frozenset(t.lower().lstrip(".") for t in m.domain.tld), _re(lst(m.domain.regex), "domain.regex"))
    if kind == "contact" and m.contact is not None:
        c = m.contact
        return ContactC(c.email, c.phone, frozenset(d.lower() for d in lst(c.email_domain)))
    if kind == "seal" and m.seal is not None:
        chosen = [i for i in data.seals.issuers if not m.seal.issuer or i.id in m.seal.issuer]
        unknown = set(m.seal.issuer) - {i.id for i in data.seals.issuers}
        if unknown:
            raise CompileError(f"unknown seal issuer(s) {sorted(unknown)} (rules/data/seals.yaml)")
        return SealC([(i, _phrases_re(i.words) or re.compile(r"(?!)"), _verify_res(i)) for i in chosen], m.seal.outcome)
    if kind == "fired" and m.fired is not None:
        return FiredC(frozenset(m.fired))
    if kind == "all" and m.all is not None:
        return AllC([compile_matcher(x, data) for x in m.all])
    if kind == "any" and m.any is not None:
        return AnyC([compile_matcher(x, data) for x in m.any])
    if kind == "not" and m.not_ is not None:
        return NotC(compile_matcher(m.not_, data))
    raise CompileError(f"unsupported matcher {kind!r}")


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
    leaves = list(_text_leaves(matcher))
    # Text vetoes apply to the context of each text match (same sentence by default); a rule
    # with no text matcher applies them to the whole page. Other vetoes apply to the whole
    # page (page rules) or site (site rules).
    text_unless = [u for u in unless if isinstance(u, TextC)] if leaves else []
    other_unless = [u for u in unless if not (leaves and isinstance(u, TextC))]
    for leaf in leaves if text_unless else []:
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
    fired: Fired = {}
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
            finding = _finding(cr.rule, evidence)
            findings.append(finding)
            fired[cr.rule.id] = finding.evidence
    for cr in rules:
        if cr.rule.scope != "site":
            continue
        site_ev = cr.matcher.on_site(pages, fired)
        if site_ev is None:
            continue
        if any(u.on_site(pages, fired) is not None for u in cr.unless):
            continue
        finding = _finding(cr.rule, site_ev or [Evidence(url=site.final_url, text=cr.rule.name)])
        findings.append(finding)
        fired[cr.rule.id] = finding.evidence
    return findings


def _finding(rule: Rule, evidence: list[Evidence]) -> Finding:
    # The same words on many pages (a footer, the nav) are one piece of evidence: keep the first page.
    seen: set[str] = set()
    unique: list[Evidence] = []
    for ev in evidence:
        if ev.text not in seen:
            seen.add(ev.text)
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
