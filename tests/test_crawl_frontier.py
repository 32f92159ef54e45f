"""The crawl frontier's shortcuts (one RE2 set for the link categories, normal hrefs left as
they are, each href and each link offered once) pick exactly what the plain definitions pick."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pharmcheck.fetch.policy import (
    _SKIP,
    _WORD,
    CATEGORIES,
    CrawlFrontier,
    _categories,
    _category,
    _skipped,
    _words,
)
from pharmcheck.urls import InvalidURL, normalize_url

SITE = "https://www.pharmacy-example.co.uk"


def category_by_definition(haystack: str) -> tuple[int, str] | None:
    for name, weight, pattern in CATEGORIES:
        if pattern.search(haystack):
            return weight, name
    return None


def normalized(href: str) -> str | None:
    try:
        return normalize_url(href)
    except InvalidURL:
        return None


# Words of the category patterns, glued to letters that make word boundaries differ between
# ASCII and Unicode (é, ß, ı, İ, K the Kelvin sign), separators and case changes.
CATEGORY_WORDS = ["about", "Über-uns", "rx", "RX", "faq", "loi", "pago", "tos", "cgv", "o-nas", "promoções",
                  "locations", "ordonnance", "prescription", "How_To_Order", "deals", "aide", "recept", "KONTAKT"]
GLUE = ["", " ", "-", "_", "/", "é", "ß", "ı", "İ", "\u212a", "x", "1", "ü", "ç", "õ", "\u00a0"]
haystacks = st.lists(st.sampled_from(CATEGORY_WORDS + GLUE), max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(haystacks)
def test_the_category_of_a_link_is_the_first_category_whose_pattern_matches(haystack: str) -> None:
    assert _category(haystack) == category_by_definition(haystack)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(haystacks, st.sampled_from(["", "\n", "a\nfaq", "products/x-1 X 10 mg"])), max_size=6))
def test_the_links_of_a_page_scored_together_get_each_its_own_category(batch: list[str]) -> None:
    assert _categories(batch) == [category_by_definition(haystack) for haystack in batch]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["/cart", "/CART", "/Checkout", ".jpg", ".JPEG?", ".Png", "?add-to-cart=", "&Replytocom=",
                                 "/cartx", "/cart/", "é", "\u212a", "\u017f", "s", "/login", "/wp-admin", "x", "?", "/"]),
                max_size=6).map(lambda parts: "https://shop.example" + "".join(parts)))
def test_links_to_files_carts_and_logins_are_told_as_the_pattern_says(url: str) -> None:
    assert _skipped(url) == (_SKIP.search(url) is not None)


@settings(max_examples=300, deadline=None)
@given(haystacks.map(str.lower))
def test_the_words_of_a_link_are_its_runs_of_letters_and_digits(lowered: str) -> None:
    assert _words(lowered) == _WORD.findall(lowered)


def test_categories_on_words_a_menu_uses() -> None:
    assert _category("about-us About us") == (85, "about")
    assert _category("hilfe Hilfe") == (75, "faq")
    assert _category("rezept-einloesen Rezept einlösen") == (90, "prescription")  # first category wins over "faq"
    assert _category("products/sildenafil-12 Sildenafil 10 mg tablets") is None


PATH_PIECES = ["/", "a", "B", "-", ".", "..", "//", "%41", "%2f", "?", "q=1", "&", "#", "frag", " ", "é", "\\", ";", "~",
               "@", ":", "+", "*", "'", "(", "!", "$", ",", "="]
ORIGINS = [SITE, "https://WWW.pharmacy-example.co.uk", "https://www.pharmacy-example.co.uk:443", "http://x.test:8080",
           "https://user@www.pharmacy-example.co.uk", "https://bücher.test", "https://", "https:", "/relative", "mailto:a@b.c",
           " https://www.pharmacy-example.co.uk", "https://www.pharmacy-example.co.uk."]
hrefs = st.tuples(st.sampled_from(ORIGINS), st.lists(st.sampled_from(PATH_PIECES), max_size=8).map("".join)).map("".join)


@settings(max_examples=600, deadline=None)
@given(hrefs)
def test_an_href_normalises_as_normalize_url_says(href: str) -> None:
    frontier = CrawlFrontier(SITE + "/", 6)
    assert frontier._normalize(href) == normalized(href)
    assert frontier._normalize(href) == normalized(href)  # and again, from its memory


def pick_all(frontier: CrawlFrontier, pages: list[list[tuple[str, str]]]) -> list[str]:
    """The pages a crawl takes when page i offers pages[i] (the first page is the home page)."""
    picked = []
    frontier.mark_visited(SITE + "/")
    for links in pages:
        frontier.add_links(links)
        url = frontier.next_url()
        if url is None:
            break
        picked.append(url)
        frontier.mark_visited(url)
    return picked


def test_a_listing_that_repeats_its_links_is_crawled_as_if_each_link_came_once() -> None:
    menu = [(SITE + "/about-us", "About us"), (SITE + "/contact", "Contact"), (SITE + "/faq", "FAQ"),
            ("https://elsewhere.test/about", "About them"), (SITE + "/cart", "Basket"), (SITE + "/", "Home")]
    cards = [(SITE + f"/products/drug-{i}", text) for i in range(40) for text in (f"Sertraline {i} mg", "")]
    others = [(SITE + f"/blog/post-{i}", f"Post {i}") for i in range(6)]
    page = menu + cards + others + menu + cards
    frontier = CrawlFrontier(SITE + "/", 8, frozenset({"sertraline"}))
    picked = pick_all(frontier, [page] * 8)
    assert picked[:3] == [SITE + "/about-us", SITE + "/contact", SITE + "/faq"]
    # 8 pages with the home page: 3 of the menu, 3 products (the cap), then one page of another kind
    assert len(picked) == 7 and sum("/products/" in url for url in picked) == 3 and SITE + "/blog/post-0" in picked
    assert not any("elsewhere" in url or url.endswith("/cart") for url in picked)
    # offered once each, in the same order: the same choice
    once = list(dict.fromkeys(page))
    assert pick_all(CrawlFrontier(SITE + "/", 8, frozenset({"sertraline"})), [once] * 8) == picked


def test_a_link_to_a_subdomain_is_same_site_and_one_to_another_site_is_not() -> None:
    frontier = CrawlFrontier(SITE + "/", 6)
    frontier.mark_visited(SITE + "/")
    frontier.add_links([("https://shop.pharmacy-example.co.uk/contact", "Contact"),
                        ("https://pharmacy-example.co.uk.evil.com/about", "About")])
    assert frontier.next_url() == "https://shop.pharmacy-example.co.uk/contact"
    assert frontier.next_url() is None


def test_a_link_that_promised_nothing_is_still_taken_when_offered_again_with_words_that_promise() -> None:
    # Off-site and skipped addresses are refused for good; a same-site one whose text scored
    # nothing is not: the same address under another text may be the page we want.
    frontier = CrawlFrontier(SITE + "/index.php", 6)
    frontier.mark_visited(SITE + "/index.php")
    frontier.add_links([(SITE + "/", "Home"), ("https://elsewhere.test/contact", "Contact"), (SITE + "/cart", "Contact")])
    frontier.add_links([("https://elsewhere.test/contact", "Contact us"), (SITE + "/cart", "FAQ")])
    assert frontier.next_url() is None
    frontier.add_links([(SITE + "/", "Contact us")])
    assert frontier.next_url() == SITE + "/"


def test_a_full_frontier_offers_nothing_more() -> None:
    frontier = CrawlFrontier(SITE + "/", 2)
    frontier.mark_visited(SITE + "/", SITE + "/home")
    frontier.add_links([(SITE + "/contact", "Contact")])
    assert frontier.next_url() is None
