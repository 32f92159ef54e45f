"""The rule engine: each matcher kind, `unless` windows, seal outcomes, site rules with `fired`."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pharmcheck.extract import DrugIndex, extract_html, word_set
from pharmcheck.models import DrugEntry, DrugLexicon, Finding, SiteFacts
from pharmcheck.rules.compile import CompiledRule, CompileError, compile_rule
from pharmcheck.rules.engine import evaluate
from pharmcheck.rules.schema import Rule, RuleSetData, SealData, SealIssuer
from pharmcheck.rules.textsearch import TextPatterns, Utf8Text, _re2_spans, compile_regex, fold_case
from pharmcheck.ruleset import RuleSet
from pharmcheck.urls import host_of, registrable_domain

LEXICON = DrugLexicon(drugs=[
    DrugEntry(name="tramadol", schedule="controlled", category="opioid", synonyms=["ultram"]),
    DrugEntry(name="sildenafil", schedule="rx", category="erectile dysfunction", synonyms=["viagra"]),
    DrugEntry(name="ibuprofen", schedule="otc", category="analgesic"),
])
DATA = RuleSetData(
    lists={"platforms": ["trustpilot.com"]},
    drugs=LEXICON,
    seals=SealData(issuers=[
        SealIssuer(id="legitscript", name="LegitScript", domains=["legitscript.com"], words=["legitscript"],
                   verify="legitscript.com/websites/?checker_keywords={domain}"),
        SealIssuer(id="gphc", name="GPhC", domains=["pharmacyregulation.org"], words=["gphc"],
                   verify="pharmacyregulation.org/registers/pharmacy/{id}"),
    ]),
)
INDEX = DrugIndex(LEXICON)
SITE = "https://shop.example-pharmacy.test/"


def rule(match: dict[str, Any], rule_id: str = "T-RULE", weight: float = -10, **extra: Any) -> CompiledRule:
    body = {"id": rule_id, "criterion": "commerce", "name": "test rule", "description": "d", "severity": "high",
            "weight": weight, "confidence": "high", "match": match, "references": ["r"],
            "examples": {"match": ["x"], "no_match": ["y"]}, **extra}
    return compile_rule(Rule.model_validate(body), DATA)


def run(rules: list[CompiledRule], *pages: str, url: str = SITE) -> dict[str, Finding]:
    facts = [extract_html(html if "<" in html else f"<p>{html}</p>", url if i == 0 else f"{url}p{i}", INDEX)
             for i, html in enumerate(pages)]
    host = host_of(url)
    site = SiteFacts(url=url, final_url=url, domain=registrable_domain(host), host=host, pages=facts)
    return {f.rule_id: f for f in evaluate(rules, site)}


def test_phrases_are_word_bounded_and_case_folded() -> None:
    r = rule({"text": {"phrases": ["no rx needed"]}})
    found = run([r], "Pills online. NO  RX\nNEEDED today.")
    assert found["T-RULE"].evidence[0].url == SITE
    assert "NO" in found["T-RULE"].evidence[0].text
    assert run([r], "piano rx neededness") == {}


def test_text_whose_lower_case_changes_length_still_matches() -> None:
    # "İ".lower() is two characters: offsets would shift, so the original text is searched
    phrases = rule({"text": {"phrases": ["no rx needed"]}})
    regexes = rule({"text": {"regex": ["\\bbonus\\s+pills"], "anchors": ["bonus"]}}, rule_id="T-REGEX")
    found = run([phrases, regexes], "İZMİR shop: No Rx needed. Bonus pills!")
    assert "No Rx needed" in found["T-RULE"].evidence[0].text
    assert "Bonus pills" in found["T-REGEX"].evidence[0].text


def test_unless_vetoes_only_in_the_sentence_of_the_match() -> None:
    r = rule({"text": {"phrases": ["without a prescription"]}}, unless=[{"text": {"phrases": ["never"]}}])
    assert run([r], "Never buy without a prescription.") == {}
    found = run([r], "Never trust strangers. Buy sleeping pills without a prescription here.")
    assert "sleeping pills" in found["T-RULE"].evidence[0].text


def test_a_vetoed_sentence_repeated_on_every_page_stays_vetoed_and_others_are_judged_afresh() -> None:
    # Veto answers are kept per window text: the same sentence gets the same answer on every
    # page and in every run; a different sentence is searched.
    r = rule({"text": {"phrases": ["without a prescription"]}}, unless=[{"text": {"phrases": ["never"]}}])
    footer = "<p>Never buy without a prescription.</p>"
    assert run([r], footer, footer, footer) == {}
    found = run([r], footer, footer + "<p>Order sleeping pills without a prescription today.</p>", footer)
    assert [ev.text for ev in found["T-RULE"].evidence] == ["Order sleeping pills without a prescription today."]
    assert run([r], footer) == {}


def test_a_page_of_ever_different_sentences_keeps_the_veto_answers_bounded() -> None:
    # A hostile page can make every window different: the answers kept stay few and short,
    # and every sentence is still judged on its own.
    from pharmcheck.rules.matchers.text import VETO_CACHE_MAX_CHARS, VETO_CACHE_SIZE, TextC

    r = rule({"text": {"phrases": ["without a prescription"]}}, unless=[{"text": {"phrases": ["never"]}}])
    long = "word " * VETO_CACHE_MAX_CHARS
    sentences = [f"<p>Batch {i} sold without a prescription{', never' if i % 2 else ''}.</p>" for i in range(3 * VETO_CACHE_SIZE)]
    found = run([r], "".join(sentences) + f"<p>{long}sold without a prescription.</p>")
    assert found["T-RULE"].evidence[0].text == "Batch 0 sold without a prescription."
    assert isinstance(r.matcher, TextC)
    (veto,) = r.matcher.unless
    assert 0 < len(veto._veto_answers) <= VETO_CACHE_SIZE
    assert all(len(window) <= VETO_CACHE_MAX_CHARS for window in veto._veto_answers)


def test_unless_window_page_vetoes_the_whole_page() -> None:
    r = rule({"text": {"phrases": ["without a prescription"]}},
             unless=[{"text": {"phrases": ["researchers"], "window": "page"}}])
    assert run([r], "<p>Researchers looked at shops.</p><p>They sold pills without a prescription.</p>") == {}


def test_regex_runs_only_when_an_anchor_word_is_on_the_page() -> None:
    r = rule({"text": {"regex": ["\\d+\\s+free\\s+pills"], "anchors": ["bonus"]}})
    assert run([r], "4 free pills with every order") == {}  # anchor absent: the regex is never run
    assert "T-RULE" in run([r], "Bonus: 4 free pills with every order")


def test_text_on_url_field_reports_the_page_address() -> None:
    r = rule({"text": {"field": "url", "regex": ["buy .* no rx"], "anchors": ["rx"]}})
    found = run([r], "Shop", url="https://shop.example-pharmacy.test/buy-valium-no-rx")
    assert "buy-valium-no-rx" in found["T-RULE"].evidence[0].text


@pytest.mark.parametrize("match, html, words", [
    ({"link": {"domain": "@platforms", "offsite": True}}, '<a href="https://www.trustpilot.com/review/x">Reviews</a>', "trustpilot"),
    ({"image": {"words": ["vipps"], "linked": False}}, '<img src="/s.png" alt="VIPPS seal">', "VIPPS"),
    ({"form": {"file_upload": True, "field": ["rx"]}}, '<form action="/up"><input type="file" name="rx_scan"></form>', "rx_scan"),
    ({"jsonld": {"type": ["AggregateRating"], "contains": ["trustpilot"]}},
     '<script type="application/ld+json">{"@type": "AggregateRating", "author": "Trustpilot"}</script>', "Trustpilot"),
    ({"drug": {"schedule": ["controlled"]}}, "Ultram 50mg tablets", "tramadol"),
    ({"price": {"min": 2}}, "Tablets £3.99 or £6.50", "£3.99"),
    ({"domain": {"tld": ["test"]}}, "Welcome", "example-pharmacy.test"),
    ({"contact": {"email": True, "phone": True}}, "Call 0113 496 0123 or write to care@shop.test", "care@shop.test"),
    ({"contact": {"email_domain": ["gmail.com"]}}, "Orders: fastpills@gmail.com", "fastpills@gmail.com"),
    ({"all": [{"drug": {}}, {"price": {}}]}, "Viagra £9.99", "sildenafil"),
    ({"any": [{"price": {"min": 5}}, {"drug": {}}]}, "Viagra", "sildenafil"),
])
def test_every_matcher_kind_reports_page_and_words(match: dict[str, Any], html: str, words: str) -> None:
    found = run([rule(match)], html)
    evidence = found["T-RULE"].evidence
    assert evidence and evidence[0].url == SITE
    assert words.lower() in " ".join(ev.text for ev in evidence).lower()


def test_drug_schedule_filters_and_not_inverts() -> None:
    assert run([rule({"drug": {"schedule": ["controlled"]}})], "Ibuprofen 200mg") == {}
    assert "T-RULE" in run([rule({"not": {"drug": {}}})], "Plasters and soap")


SEAL = '<a href="{href}"><img src="/seal.png" alt="LegitScript certified"></a>'


@pytest.mark.parametrize("href, outcome", [
    ("https://www.legitscript.com/websites/?checker_keywords=example-pharmacy.test", "verified"),
    ("https://www.legitscript.com/websites/?checker_keywords=www.example-pharmacy.test", "verified"),
    ("https://www.legitscript.com/websites/?checker_keywords=other-shop.test", "mismatch"),
    ("https://legitscript-check.test/verify?d=example-pharmacy.test", "mismatch"),  # look-alike issuer
    ("https://www.legitscrípt.com/websites/", "mismatch"),  # a homoglyph of the issuer
    ("https://www.legitscrlpt.com/websites/?checker_keywords=example-pharmacy.test", "mismatch"),  # one letter off
    ("https://www.legitscript.com/", "unverified"),  # the issuer's home page checks nothing
    ("/about-our-seal", "unverified"),
])
def test_seal_outcomes(href: str, outcome: str) -> None:
    rules = [rule({"seal": {"outcome": o}}, rule_id=f"SEAL-{o.upper()}") for o in ("verified", "unverified", "mismatch")]
    found = run(rules, SEAL.format(href=href))
    assert set(found) == {f"SEAL-{outcome.upper()}"}
    assert "LegitScript" in found[f"SEAL-{outcome.upper()}"].evidence[0].text


def test_register_seal_with_entry_number_is_verified() -> None:
    r = rule({"seal": {"outcome": "verified", "issuer": ["gphc"]}})
    html = '<a href="https://www.pharmacyregulation.org/registers/pharmacy/1234567"><img src="/g.png" alt="GPhC registered"></a>'
    assert "T-RULE" in run([r], html)


def test_site_rule_with_fired_carries_the_evidence_of_the_rules_it_names() -> None:
    controlled = rule({"drug": {"schedule": ["controlled"]}}, rule_id="T-CONTROLLED")
    requires = rule({"text": {"phrases": ["prescription required"]}}, rule_id="T-REQUIRES", weight=10)
    no_step = rule({"all": [{"fired": ["T-CONTROLLED"]}, {"not": {"fired": ["T-REQUIRES"]}}]}, rule_id="T-NO-STEP", scope="site")
    found = run([no_step, controlled, requires], "Tramadol 50mg", "About us")
    assert found["T-NO-STEP"].evidence[0].text == "drugs named: tramadol"
    assert found["T-NO-STEP"].evidence[0].url == SITE
    # the prescription statement on another page of the same site stops it
    assert "T-NO-STEP" not in run([no_step, controlled, requires], "Tramadol 50mg", "Prescription required")


def test_fired_is_refused_in_page_rules() -> None:
    with pytest.raises(CompileError):
        rule({"text": {"phrases": ["x"]}}, unless=[{"fired": ["OTHER"]}])


def test_text_unless_on_a_rule_without_text_matchers_vetoes_the_page() -> None:
    r = rule({"price": {}}, unless=[{"text": {"phrases": ["street value"]}}])
    assert run([r], "Seized pills had a street value of £900.") == {}
    assert "T-RULE" in run([r], "Tablets £4.99")


def test_data_lists_may_name_other_lists() -> None:
    from pharmcheck.rules.compile import compile_matcher
    from pharmcheck.rules.schema import Matcher, RuleSetData

    data = RuleSetData(lists={"inner": ["never"], "outer": ["@inner", "avoid"]})
    matcher = compile_matcher(Matcher.model_validate({"text": {"phrases": ["@outer"]}}), data)
    assert matcher.patterns.phrase_literals == ["never", "avoid"]  # type: ignore[attr-defined]


def test_text_whose_lower_case_changes_length_is_still_matched() -> None:
    # "İ" lower-cases to two characters: offsets of the lower-cased text no longer line up,
    # so the engine falls back from its shared passes to case-insensitive patterns.
    from pharmcheck.extract import extract_html
    from pharmcheck.models import SiteFacts
    from pharmcheck.rules import evaluate
    from pharmcheck.ruleset import RuleSet

    rules = RuleSet.load()
    page = extract_html("<p>İstanbul shop: buy tramadol without a prescription, add to cart.</p>",
                        "https://x.test/", rules.drug_index)
    site = SiteFacts(url="https://x.test/", final_url="https://x.test/", domain="x.test", host="x.test", pages=[page])
    fired = {f.rule_id for f in evaluate(rules.rules, site)}
    assert {"RX-NO-PRESCRIPTION", "RX-CONTROLLED-FOR-SALE"} <= fired


# Phrase words, and glue that joins, splits or borders words differently for \w, [a-z0-9] and
# case folding (accents, ß, the dotted capital I, the Kelvin sign, underscores, hyphens).
_VETO_PHRASES = ["not required", "no prescription required", "look for", "l'ordonnance", "é-mail", "x_ray", "24/7", "über uns"]
_VETO_WORDS = ["not", "NOT", "Not", "required", "REQUIRED", "no", "prescription", "look", "For", "l'ordonnance", "é", "É",
               "mail", "x", "ray", "24", "7", "über", "ÜBER", "uns", "ß", "\u0130", "\u212a", "a"]
_VETO_GLUE = [" ", "  ", "-", "_", "/", "'", "\n", "", "."]
_veto_texts = st.lists(st.tuples(st.sampled_from(_VETO_WORDS), st.sampled_from(_VETO_GLUE)), max_size=10).map(
    lambda pairs: "".join(word + glue for word, glue in pairs))


@settings(max_examples=500, deadline=None)
@given(_veto_texts)
@example("It is NOT required.")
@example("Über uns")
def test_a_phrase_search_finds_what_the_alternation_of_all_its_phrases_finds(text: str) -> None:
    # search() leaves out the phrases with a word the text lacks: never one that would match.
    patterns = TextPatterns.build(_VETO_PHRASES, [])
    unfiltered = next(patterns.spans(text, fold_case(text)), None) is not None
    assert patterns.search(text) == unfiltered
    assert patterns.found_in(text, fold_case(text), word_set(fold_case(text))) == unfiltered


_RE2_PATTERNS = [r"\bour\s+(online\s+)?pharmacy\b", r"x*", r"é?", r"\d+", r"[£€]\s?\d+", r"\b", r"straße|ß", r"a|",
                 r"(?-i:[A-Z]{2})\s+\d{5}", r"$"]
_RE2_PIECES = ["a", "x", "é", "ß", "£", "€", " ", "1", "our", "pharmacy", "online", "AB", "12345", "\n", "😀", "İ", "straße"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_RE2_PATTERNS), st.sampled_from([0, re.IGNORECASE]), st.lists(st.sampled_from(_RE2_PIECES), max_size=12).map("".join))
def test_re2_matches_searched_in_bytes_have_the_character_offsets_re2_gives(pattern: str, flags: int, text: str) -> None:
    # Empty matches included: after one, the search moves on one character, as re2's finditer does.
    compiled = compile_regex(pattern, flags, "test")
    assert compiled is not None
    assert list(_re2_spans(compiled, text)) == [m.span() for m in compiled.finditer(text)]


# Long texts: runs of one piece, so that multi-byte characters straddle the 4 KB checkpoints
# Utf8Text counts characters from (and matches fall on both sides of them).
_long_texts = st.lists(st.tuples(st.sampled_from(_RE2_PIECES), st.integers(1, 900)), max_size=6).map(
    lambda runs: "".join(piece * n for piece, n in runs))


@settings(max_examples=100, deadline=None)
@given(_long_texts)
@example("é" * 2049 + "a" + "😀" * 1500)
@example("a" * 4095 + "€" + "ß" * 3000)
def test_utf8_text_maps_every_character_boundary_to_its_character_offset(text: str) -> None:
    encoded = Utf8Text.of(text)
    assert encoded is not None and encoded.data == text.encode("utf-8")
    data = encoded.data
    boundaries = [i for i in range(len(data) + 1) if i == len(data) or data[i] & 0xC0 != 0x80]
    assert [encoded.char_offset(b) for b in boundaries] == list(range(len(text) + 1))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_RE2_PATTERNS), st.sampled_from([0, re.IGNORECASE]), _long_texts)
def test_re2_matches_on_a_shared_encoding_have_the_character_offsets_re2_gives(pattern: str, flags: int, text: str) -> None:
    # A page's texts are encoded once and handed to every rule's regexes (and mapped back
    # from the checkpoints of the first rule's matches on): the same spans as re2's own.
    compiled = compile_regex(pattern, flags, "test")
    assert compiled is not None
    shared = Utf8Text.of(text)
    expected = [m.span() for m in compiled.finditer(text)]
    assert list(_re2_spans(compiled, text, shared)) == expected
    assert list(_re2_spans(compiled, text, shared)) == expected
    assert list(_re2_spans(compiled, text)) == expected


def test_a_text_that_cannot_be_encoded_is_searched_as_str() -> None:
    assert Utf8Text.of("a\ud800b") is None


# Regex pieces whose match depends on what borders the text searched (^ $ \b \B, line ends,
# dot-all), and URL pieces that border them differently (line breaks, word and non-word glue).
_HREF_PIECES = [r"^", r"$", r"\b", r"\B", "a", "b", "é", ".", "(?s:.)", "[^a]", r"\.onion(/|$)", "x*", "(a|^b)", "(?m:^a)",
                "/", r"\w+", r"\W", "https?://", r"(www\.)?", "(?-i:A)", r"\n"]
_URL_PIECES = ["a", "b", "A", "é", "/", ".", "\n", "_", " ", "https://", "www.", "x.onion", "onion/", "😀", "1"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_HREF_PIECES), min_size=1, max_size=5).map("".join),
       st.lists(st.lists(st.sampled_from(_URL_PIECES), max_size=6).map("".join), max_size=6))
@example(r"^https?://(www\.)?google\.[a-z.]+/maps", ["https://a.example/", "https://www.google.com/maps/x"])
@example(r"\.onion(/|$)", ["https://x.example/", "http://abc.onion"])
@example(r"a$", ["ba\nc", "x"])
def test_one_search_over_all_link_urls_misses_no_link_a_search_per_link_finds(pattern: str, urls: list[str]) -> None:
    from hypothesis import assume

    from pharmcheck.rules.matchers.markup import links_prefilter

    try:
        href = compile_regex(pattern, re.IGNORECASE, "test")
    except CompileError:
        assume(False)
        return
    assert href is not None
    prefilter = links_prefilter(href)
    assert prefilter is not None
    if any(href.search(url) for url in urls):
        assert prefilter.search("\n".join(urls).encode()) is not None


def test_links_prefilter_is_not_used_for_whole_text_anchors() -> None:
    from pharmcheck.rules.matchers.markup import links_prefilter

    for pattern in [r"\Ahttps://x", r"(?-m:^x)", r"(?i-m:^x)"]:  # (\z: refused by Python re already)
        assert links_prefilter(compile_regex(pattern, re.IGNORECASE, "test")) is None


def test_an_href_rule_finds_its_link_among_hundreds_of_offsite_links() -> None:
    # The anchored pattern must match the link's own URL, not only the first one of the page.
    maps = rule({"link": {"href": ["^https?://(www\\.)?google\\.[a-z.]+/maps"], "offsite": True}}, "T-MAPS")
    onion = rule({"link": {"href": ["\\.onion(/|$)"], "offsite": True}}, "T-ONION")
    many = "".join(f'<a href="https://aff{i}.example/buy/{i}">cheap {i}</a>' for i in range(300))
    found = run([maps, onion], many + '<a href="https://www.google.com/maps/place/x">Find us</a>')
    assert set(found) == {"T-MAPS"}
    assert "google.com/maps/place/x" in found["T-MAPS"].evidence[0].text
    assert run([maps, onion], many) == {}
    own = run([maps, onion], '<a href="/maps">x</a><a href="http://abcdefghijklmnop.onion/">market</a>')
    assert set(own) == {"T-ONION"}


_SEAL_WORDS = ["legitscript", "nabp", "eu", "e", "euro", "gphc", "24", "2", "cipa"]
_LABEL_PIECES = [*_SEAL_WORDS, "LEGITSCRIPT", "x", " ", "-", "_", "é", "ß", "\u0130", "\u212a", "😀", "/", "7", "\n", "\ud800"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_LABEL_PIECES), max_size=12).map("".join))
@example("legitscript-nabp")
@example("éeué")
def test_the_seal_words_found_in_one_pass_are_those_of_the_label_words(text: str) -> None:
    from unittest import mock

    from pharmcheck.rules.page import WordFinder

    # Whatever the text holds (accents, surrogates, capitals the folding left, digits next to
    # words), a word is found exactly when word_set would have it: by the RE2::Set pass, and
    # by the scan used on texts too long to trust the set's "no match".
    finder = WordFinder(_SEAL_WORDS)
    expected = word_set(text) & frozenset(_SEAL_WORDS)
    assert finder.present(text) == expected
    with mock.patch("pharmcheck.rules.page.RE2_SET_TRUSTED_CHARS", 0):
        assert finder.present(text) == expected


_BOOK_PHRASES = ["order", "order now", "a.a", "buy", "é-mail", "über uns", "24/7", "x_ray", "aa"]
_BOOK_PIECES = ["order", "orders", "now", "a", ".", "aa", "buy", "é", "-", "mail", "über", " ", "uns", "24", "/", "7", "x", "_",
                "ray", "ß", "\u0130", "😀", "\n", "\ud800"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_BOOK_PIECES), max_size=14).map("".join))
@example("a.a.a aaa order now orders")
def test_the_phrase_books_set_pass_finds_the_hits_the_automaton_finds(text: str) -> None:
    # The RE2::Set pass and str.find must give every word-bounded occurrence, overlapping ones
    # included, exactly as the Aho-Corasick walk does (and text it cannot encode goes there).
    from pharmcheck.rules.phrasebook import PhraseBook

    book = PhraseBook()
    for phrase in _BOOK_PHRASES:
        book.add(phrase)
    book.finish()
    book._literal_set = book._build_literal_set()  # (else the first pages go to the automaton)
    lowered = fold_case(text)
    assert book.find(lowered) == book._find_by_automaton(lowered)


_SENTENCE_PIECES = ["word", " ", ".", ". ", "!", "?", ";", "\n", "\t", "é", "x" * 700, "...", ".\n", "; "]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_SENTENCE_PIECES), max_size=16).map("".join), st.data())
@example("One. Two; three! four?\n five", None)
def test_the_sentence_around_a_match_is_where_the_last_sentence_end_before_it_ends(text: str, data: Any) -> None:
    # The left bound found by one backwards scan is the end of the last sentence end found by
    # walking them all from the line's start, as before.
    from pharmcheck.rules import page

    def walked(text: str, start: int, end: int) -> tuple[int, int]:
        line_start, line_end = page._line_bounds(text, start, end, page.MAX_SENTENCE_REACH)
        left = line_start
        for m in page._SENTENCE_END.finditer(text, line_start, start):
            left = m.end()
        m2 = page._SENTENCE_END.search(text, end, line_end) if end < line_end else None
        return left, (m2.start() + 1 if m2 else line_end)

    spans = [(0, 0), (len(text), len(text))]
    if data is not None and text:
        start = data.draw(st.integers(0, len(text)))
        spans.append((start, data.draw(st.integers(start, len(text)))))
    for start, end in spans:
        assert page._sentence_bounds(text, start, end) == walked(text, start, end)


@functools.cache
def _shipped() -> tuple[RuleSet, list[str]]:
    """The shipped rules, and their examples' texts and HTML."""
    ruleset = RuleSet.load()
    texts = {ex if isinstance(ex, str) else ex.html for cr in ruleset.rules
             for ex in [*cr.rule.examples.match, *cr.rule.examples.no_match]}
    return ruleset, sorted(t for t in texts if t)


_HOSTILE_PIECES = [" ", "\n", ". ", "<!-- x -->", "<?pi x?>", "<div><div><div>", "\x07", "é", "£", "😀", "\u0130",
                   "x" * 5000, "order " * 50, "<a href='https://www.legitscript.com/websites/?checker_keywords=site.example'>LegitScript</a>",
                   "<img alt='GPhC registered pharmacy' src='/gphc.png'>", "<form><input type=file></form>"]


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_rules_the_page_wide_passes_rule_out_are_skipped_with_the_same_findings(data: Any) -> None:
    # The engine skips a rule when none of the text matchers it needs is in play on the page
    # (TextIndex): on pages made of the shipped rules' own examples (so that many rules are
    # in play, and many vetoed) and hostile markup, the findings and their evidence are those
    # of every rule called on every page.
    ruleset, texts = _shipped()
    pages = data.draw(st.lists(st.lists(st.sampled_from(texts + _HOSTILE_PIECES), max_size=25).map(
        lambda parts: "<html><body><p>" + "</p><p>".join(parts) + "</p></body></html>"), min_size=1, max_size=3))
    site = SiteFacts(url=SITE, final_url=SITE, domain=registrable_domain(host_of(SITE)), host=host_of(SITE),
                     pages=[extract_html(html, f"{SITE}p{i}", ruleset.drug_index) for i, html in enumerate(pages)])
    gated = [(cr.rule.id, cr.gate) for cr in ruleset.rules if cr.gate is not None]
    assert len(gated) > 100
    skipped = evaluate(ruleset.rules, site)
    saved = {id(cr): (cr.gate, cr.index) for cr in ruleset.rules}
    try:
        for cr in ruleset.rules:
            cr.gate = cr.index = None
        called = evaluate(ruleset.rules, site)
    finally:
        for cr in ruleset.rules:
            cr.gate, cr.index = saved[id(cr)]
    assert [f.model_dump() for f in skipped] == [f.model_dump() for f in called]


def test_a_regex_set_is_compiled_on_first_use_and_finds_the_patterns_that_match() -> None:
    # The rule set's RE2::Sets are compiled when the first page is matched, not at load; until
    # finish() no set exists and every pattern must run (None), and after it the set answers.
    from pharmcheck.rules.phrasebook import RegexSet

    patterns = RegexSet()
    first, second = patterns.add(r"\bbuy\b"), patterns.add(r"no prescription")
    assert patterns.matching("buy now, no prescription") is None
    patterns.finish()
    assert patterns.matching("buy now, no prescription") == frozenset({first, second})
    assert patterns.matching("order now") == frozenset()
    assert RegexSet().matching("anything") is None  # no patterns: nothing to rule out
