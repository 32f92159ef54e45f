"""The fitted model's site features: the site's words held to their simple reference definition
(one word at a time) on made-up and hypothesis-generated sites, and the drug-name host feature."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pharmcheck.judge import features
from pharmcheck.judge.features import PREFIX_LEN, PREFIX_MIN_WORD, _drug_host, host_labels, text_tokens
from pharmcheck.models import PageFacts, SiteFacts
from pharmcheck.ruleset import RuleSet


def reference_text_tokens(site: SiteFacts) -> set[str]:
    """text_tokens as first written: every page's words, one at a time."""
    own = host_labels(site.host)
    tokens: set[str] = set()
    for page in site.pages:
        words: Iterable[str] = page.words
        if len(page.words) > features.MAX_WORDS_PER_PAGE:
            words = sorted(page.words)[: features.MAX_WORDS_PER_PAGE]
        for word in words:
            if len(word) < 2 or word.isdigit() or word in own:
                continue
            tokens.add(word)
            if len(word) >= PREFIX_MIN_WORD:
                tokens.add(word[:PREFIX_LEN] + "~")
    return tokens


words = st.text(alphabet="abcdefghij0123456789~-", min_size=0, max_size=12)
hosts = st.lists(st.text(alphabet="abcdefgh0123-", min_size=1, max_size=10), min_size=1, max_size=4).map(".".join)


def _site(host: str, pages: list[frozenset[str]]) -> SiteFacts:
    url = f"https://{host}/"
    return SiteFacts(url=url, final_url=url, domain=host, host=host,
                     pages=[PageFacts(url=f"{url}{i}", words=w) for i, w in enumerate(pages)])


@settings(max_examples=300, deadline=None)
@given(hosts, st.lists(st.frozensets(words, max_size=40), max_size=5))
def test_text_tokens_are_those_of_the_reference(host: str, pages: list[frozenset[str]]) -> None:
    site = _site(host, pages)
    assert text_tokens(site) == reference_text_tokens(site)


def test_text_tokens_keep_the_reference_cap_on_words_per_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "MAX_WORDS_PER_PAGE", 5)
    site = _site("shop.example", [frozenset(f"word{i:02d}xyz" for i in range(20)), frozenset({"aa", "word19xyz"})])
    assert text_tokens(site) == reference_text_tokens(site)
    assert "word19xyz" in text_tokens(site) and "word10xyz" not in text_tokens(site)


def test_drug_host_fires_on_a_long_drug_name_in_the_host_only() -> None:
    names = RuleSet.load().data.lists["drug_names"]
    assert _drug_host("www.buy-sildenafil-online.example", names) == {"host:drug_name": 1.0}
    assert _drug_host("ATORVASTATIN.example", names) == {"host:drug_name": 1.0}
    # A name of several words counts written as one ("anabolicsteroids"), not with its space.
    assert _drug_host("anabolicsteroids.example", ["anabolic steroids"]) == {"host:drug_name": 1.0}
    # Short names ("alli", "soma") are parts of ordinary words ("allied", "somatic").
    assert _drug_host("allied-somatic.example", names) == {}
    assert _drug_host("x.example", names) == {}
