"""Compilation: a rule's matcher tree (rule-file models) -> compiled matchers, through the
matcher registry; and the rule set's shared phrase automaton and regex sets."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pharmcheck.rules.data import RuleSetData
from pharmcheck.rules.matchers import MATCHER_KINDS, CompileContext, Compiled
from pharmcheck.rules.matchers.logic import AllC, AnyC, FiredC
from pharmcheck.rules.matchers.text import TextC
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
    for cr in rules:
        for leaf in _text_leaves(cr.matcher):
            patterns = leaf.patterns
            leaf.phrase_ids = [book.add(lit) for lit in patterns.phrase_literals]
            patterns.folded_ids = [-1 if isinstance(p, re.Pattern) else book.folded.add(p.pattern) for p, _ in patterns.folded]
            patterns.cased_ids = [-1 if isinstance(p, re.Pattern) else book.cased.add(strip_ci(p.pattern)) for p, _ in patterns.cased]
            leaf.book = book
    book.finish()
    return book


def strip_ci(source: str) -> str:
    return source[4:] if source.startswith("(?i)") else source
