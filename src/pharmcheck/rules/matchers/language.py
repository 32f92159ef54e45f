"""`language`: pages written in one of the given languages (as detected from their text)."""

from __future__ import annotations

from dataclasses import dataclass

from pharmcheck.models import Evidence
from pharmcheck.rules.data import StrList
from pharmcheck.rules.matchers.base import CompileContext, Compiled, MatcherKind, register
from pharmcheck.rules.page import Page
from pharmcheck.rules.textsearch import CompileError


@dataclass
class LanguageC(Compiled):
    languages: frozenset[str]

    def on_page(self, page: Page) -> list[Evidence] | None:
        code = page.facts.language
        if code not in self.languages:
            return None
        return [Evidence(url=page.facts.url, text=f"page written in {code}")]


def compile_language(codes: StrList, ctx: CompileContext) -> LanguageC:
    languages = frozenset(c.strip().lower() for c in ctx.expand(codes))
    bad = sorted(c for c in languages if not (2 <= len(c) <= 3 and c.isalpha()))
    if not languages or bad:
        raise CompileError(f"language: ISO 639-1 codes such as de, fr (got {bad or 'none'})")
    return LanguageC(languages)


register(MatcherKind(
    name="language",
    options=StrList,
    compile=compile_language,
    matches="pages whose detected language is one of the given ISO 639-1 codes (a list or `@name`)",
    evidence="the page and its language",
))
