"""Matchers over what the page sells, as extracted: `drug` (rules/data/drugs.yaml) and `price`."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from pharmcheck.models import DrugLexicon, DrugMention, Evidence
from pharmcheck.rules.data import Strict
from pharmcheck.rules.matchers.base import CompileContext, Compiled, Fired, MatcherKind, register
from pharmcheck.rules.page import MAX_EVIDENCE, Page
from pharmcheck.urls import host_of


class DrugMatcher(Strict):
    schedule: list[str] = Field(default_factory=list)  # rx | controlled | otc; empty: any
    category: list[str] = Field(default_factory=list)
    min: int = Field(1, ge=1)  # distinct drugs on the page (or site, for site rules)
    # Judge `schedule` by the page's market (drugs.yaml `markets`) instead of the default, the
    # strictest (US and UK law). Off in the shipped rules: a rogue shop on a .de host offering
    # tramadol is no less rogue for German law calling it prescription-only, and cross-validated
    # it cost 4 exact verdicts and added a critical error (benchmarks/accuracy.py --cv).
    market: bool = False


class PriceMatcher(Strict):
    min: int = Field(1, ge=1)


@dataclass
class DrugMarkets:
    """Where a drug's schedule differs by country (tramadol is a controlled drug in the US and
    the UK, prescription-only but not a narcotic in Germany): a page's market is its host's
    country code when it is one of the markets named, else its language's market."""

    schedules: dict[str, dict[str, str]]  # drug (canonical name) -> market -> schedule
    by_language: dict[str, str]
    known: frozenset[str]

    @classmethod
    def of(cls, lexicon: DrugLexicon) -> DrugMarkets:
        schedules: dict[str, dict[str, str]] = {}
        for entry in lexicon.drugs:
            if entry.markets:
                schedules.setdefault(entry.name, {}).update(entry.markets)
        known = frozenset(m for per in schedules.values() for m in per) | frozenset(lexicon.market_languages.values())
        return cls(schedules, dict(lexicon.market_languages), known)

    def market(self, page: Page) -> str:
        tld = host_of(page.facts.url).rpartition(".")[2]
        if tld in self.known:
            return tld
        return self.by_language.get(page.facts.language, "")

    def schedule(self, mention: DrugMention, market: str) -> str:
        return self.schedules.get(mention.name, {}).get(market, mention.schedule) if market else mention.schedule


@dataclass
class DrugC(Compiled):
    schedules: frozenset[str]
    categories: frozenset[str]
    minimum: int
    markets: DrugMarkets | None = None

    def _names(self, page: Page) -> list[str]:
        markets = self.markets if self.schedules else None
        market = markets.market(page) if markets is not None else ""
        return [
            d.name
            for d in page.facts.drugs
            if (not self.schedules or (markets.schedule(d, market) if markets else d.schedule) in self.schedules)
            and (not self.categories or d.category in self.categories)
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
    return DrugC(frozenset(m.schedule), frozenset(m.category), m.min, _markets(ctx.data.drugs) if m.market else None)


def _markets(lexicon: DrugLexicon) -> DrugMarkets | None:
    """The lexicon's market table (a few hundred entries: cheap to build per matcher)."""
    markets = DrugMarkets.of(lexicon)
    return markets if markets.schedules else None


def compile_price(m: PriceMatcher, ctx: CompileContext) -> PriceC:
    return PriceC(m.min)


register(MatcherKind(
    name="drug",
    options=DrugMatcher,
    compile=compile_drug,
    matches="drugs from `rules/data/drugs.yaml` by `schedule` (rx, controlled, otc, unapproved; "
            "`market: true`: as the page's market's law has it), `category`, `min` distinct",
    evidence="the drugs named",
))
register(MatcherKind(
    name="price",
    options=PriceMatcher,
    compile=compile_price,
    matches="at least `min` prices on the page",
    evidence="the prices",
))
