"""Compilation: a rule's matcher tree (rule-file models) -> compiled matchers, through the
matcher registry; and the rule set's shared phrase automaton and regex sets."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pharmcheck.rules.data import RuleSetData
from pharmcheck.rules.matchers import MATCHER_KINDS, CompileContext, Compiled
from pharmcheck.rules.matchers.logic import AllC, AnyC, FiredC
from pharmcheck.rules.matchers.text import TextC, TextIndex
from pharmcheck.rules.page import Page
from pharmcheck.rules.phrasebook import PhraseBook
from pharmcheck.rules.schema import Matcher, Rule
from pharmcheck.rules.textsearch import CompileError

__all__ = ["CompileError", "CompiledRule", "attach_phrase_book", "compile_matcher", "compile_rule"]


def compile_matcher(m: Matcher, data: RuleSetData) -> Compiled:
    kind = MATCHER_KINDS.get(m.kind)
    if kind is None:
        raise CompileError(f"unsupported matcher {m.kind!r}")
    return kind.compile(getattr(m, kind.field), CompileContext(data, lambda nested: compile_matcher(nested, data)))


@dataclass
class CompiledRule:
    rule: Rule
    matcher: Compiled
    unless: list[Compiled]  # page- or site-level vetoes (text vetoes sit on the text matchers)
    # Set by attach_phrase_book: the primary text matchers (numbers in `index`) one of which
    # must be in play on a page for `matcher` to match it; None: no such set, always run.
    gate: frozenset[int] | None = None
    index: TextIndex | None = None

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


def attach_phrase_book(rules: list[CompiledRule]) -> PhraseBook:
    """Give every primary text matcher of `rules` the shared phrase automaton and regex sets."""
    book = PhraseBook()
    leaves: list[TextC] = []
    for cr in rules:
        for leaf in _text_leaves(cr.matcher):
            leaves.append(leaf)
            patterns = leaf.patterns
            leaf.phrase_ids = [book.add(lit) for lit in patterns.phrase_literals]
            patterns.folded_ids = [-1 if isinstance(p, re.Pattern) else book.folded.add(p.pattern) for p, _ in patterns.folded]
            patterns.cased_ids = [-1 if isinstance(p, re.Pattern) else book.cased.add(strip_ci(p.pattern)) for p, _ in patterns.cased]
            leaf.book = book
    book.finish()
    index = TextIndex(book, leaves)
    for cr in rules:
        cr.gate = _gate(cr.matcher, index)
        cr.index = index if cr.gate is not None else None
    return book


def _gate(matcher: Compiled, index: TextIndex) -> frozenset[int] | None:
    """Numbers (in `index`) of primary text matchers one of which must be in play on a page
    for `matcher` to match it; None if there is no such set (another kind of matcher decides)."""
    if isinstance(matcher, TextC):
        number = index.position.get(id(matcher))
        usable = number is not None and matcher.book is index.book and matcher.source_field == "all"
        return frozenset({number}) if usable and number is not None else None
    if isinstance(matcher, AllC):  # every part must match: the gate of any gated part will do
        known = [g for g in (_gate(part, index) for part in matcher.parts) if g is not None]
        return min(known, key=len) if known else None
    if isinstance(matcher, AnyC):  # one part matching is enough: every part must be gated
        gates = [_gate(part, index) for part in matcher.parts]
        if not gates or any(g is None for g in gates):
            return None
        return frozenset().union(*(g for g in gates if g is not None))
    return None


def strip_ci(source: str) -> str:
    return source[4:] if source.startswith("(?i)") else source
