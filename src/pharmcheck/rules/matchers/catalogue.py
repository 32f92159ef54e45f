"""Matchers over what the page sells, as extracted: `drug` (rules/data/drugs.yaml) and `price`."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from pharmcheck.models import Evidence
from pharmcheck.rules.data import Strict
from pharmcheck.rules.matchers.base import CompileContext, Compiled, Fired, MatcherKind, register
from pharmcheck.rules.page import MAX_EVIDENCE, Page


class DrugMatcher(Strict):
    schedule: list[str] = Field(default_factory=list)  # rx | controlled | otc; empty: any
    category: list[str] = Field(default_factory=list)
    min: int = Field(1, ge=1)  # distinct drugs on the page (or site, for site rules)


class PriceMatcher(Strict):
    min: int = Field(1, ge=1)


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


def compile_drug(m: DrugMatcher, ctx: CompileContext) -> DrugC:
    return DrugC(frozenset(m.schedule), frozenset(m.category), m.min)


def compile_price(m: PriceMatcher, ctx: CompileContext) -> PriceC:
    return PriceC(m.min)


register(MatcherKind(
    name="drug",
    options=DrugMatcher,
    compile=compile_drug,
    matches="drugs from `rules/data/drugs.yaml` by `schedule` (rx, controlled, otc, unapproved), `category`, `min` distinct",
    evidence="the drugs named",
))
register(MatcherKind(
    name="price",
    options=PriceMatcher,
    compile=compile_price,
    matches="at least `min` prices on the page",
    evidence="the prices",
))
