"""`fired` (site rules built on other rules) and the combinators `all`, `any`, `not`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pharmcheck.models import Evidence
from pharmcheck.rules.matchers.base import CompileContext, Compiled, Fired, MatcherKind, register
from pharmcheck.rules.page import Page


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


def compile_fired(ids: list[str], ctx: CompileContext) -> FiredC:
    return FiredC(frozenset(ids))


def compile_all(parts: list[Any], ctx: CompileContext) -> AllC:
    return AllC([ctx.compile_nested(x) for x in parts])


def compile_any(parts: list[Any], ctx: CompileContext) -> AnyC:
    return AnyC([ctx.compile_nested(x) for x in parts])


def compile_not(inner: Any, ctx: CompileContext) -> NotC:
    return NotC(ctx.compile_nested(inner))


register(MatcherKind(
    name="fired",
    options=list[str],
    compile=compile_fired,
    matches="(site rules only) all the named rules fired on this site",
    evidence="the evidence of those rules",
))
register(MatcherKind(name="all", options="list[Matcher]", compile=compile_all, matches="every part matches",
                    evidence="the evidence of every part", in_table=False))
register(MatcherKind(name="any", options="list[Matcher]", compile=compile_any, matches="at least one part matches",
                    evidence="the evidence of the parts that match", in_table=False))
register(MatcherKind(name="not", options="Matcher", compile=compile_not, matches="the part does not match",
                    evidence="none", in_table=False))
