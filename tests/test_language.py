"""Language of each page: detected from a bounded sample of its text, shown in every report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pharmcheck.check import CheckContext, check_site
from pharmcheck.extract import extract_html
from pharmcheck.fetch import ArchiveIndex
from pharmcheck.fetch.pagedir import write_warc
from pharmcheck.language import SAMPLE_CHARS, declared_language, detect_language, sample
from pharmcheck.models import FetchOptions
from pharmcheck.report import render_json, render_text
from pharmcheck.report.html import render_site_html
from pharmcheck.ruleset import RuleSet

# Written for these tests: what a pharmacy's help page says, in each language.
SENTENCES = {
    "en": "You can order your repeat prescription online and we deliver the medicines to your door within two days.",
    "de": "Sie können Ihr Rezept bequem per Post einsenden, und wir liefern die Arzneimittel innerhalb von zwei Tagen nach Hause.",
    "fr": "Vous pouvez commander vos médicaments en ligne et nous les livrons chez vous en deux jours, après vérification de votre ordonnance.",
    "es": "Puede hacer su pedido en nuestra farmacia en línea y le enviamos los medicamentos a su casa en dos días laborables.",
    "it": "Puoi ordinare i tuoi farmaci da banco sul nostro sito e li spediamo a casa tua entro due giorni lavorativi.",
    "nl": "U kunt uw geneesmiddelen eenvoudig online bestellen en wij bezorgen ze binnen twee werkdagen bij u thuis.",
    "pl": "Możesz zamówić leki bez recepty w naszej aptece internetowej, a my dostarczymy je do domu w ciągu dwóch dni.",
    "pt": "Pode encomendar os seus medicamentos na nossa farmácia online e nós entregamos em sua casa no prazo de dois dias.",
    "sv": "Du kan beställa dina läkemedel på vårt apotek på nätet och vi levererar dem hem till dig inom två arbetsdagar.",
}


@pytest.mark.parametrize("code", sorted(SENTENCES))
def test_each_language_is_told_from_one_sentence(code: str) -> None:
    assert detect_language(SENTENCES[code]) == code


def test_too_little_text_is_unknown_unless_the_page_declares_its_language() -> None:
    assert detect_language("Home FAQ Kontakt") == ""
    assert detect_language("Home FAQ Kontakt", declared="de-AT") == "de"
    assert detect_language("Home FAQ", declared="xx-unknown") == ""
    # the text wins over a template's wrong `lang`
    assert detect_language(SENTENCES["nl"], declared="en") == "nl"
    assert declared_language("nb-NO") == "no"
    assert declared_language("  ") == ""


def test_a_long_page_is_judged_on_a_bounded_sample_not_its_english_banner() -> None:
    banner = "We use cookies to improve your experience. Accept all cookies or manage your settings. " * 20
    body = " ".join([SENTENCES["de"]] * 3000)  # ~350,000 characters
    piece = sample(banner + body)
    assert len(piece) <= SAMPLE_CHARS + 2
    assert detect_language(banner + body) == "de"


@pytest.mark.parametrize("code", sorted(SENTENCES))
def test_a_page_longer_than_the_sample_is_told_in_each_language(code: str) -> None:
    # An English header and footer around the page's own text: the sample is taken from within.
    chrome = "Home Shop Delivery Contact us Sign in Basket Cookie settings. "
    text = chrome * 10 + " ".join([SENTENCES[code]] * 40) + chrome * 10
    assert len(text) > 2 * SAMPLE_CHARS
    assert detect_language(text) == code


def test_extraction_records_the_language_of_the_visible_text() -> None:
    html = f"<html lang='en'><head><title>Hilfe</title><script>var text = 'english words here';</script></head><body><p>{SENTENCES['de']}</p></body></html>"
    assert extract_html(html, "https://apotheke.example/hilfe").language == "de"
    nav_only = "<html lang='fr'><head><title>x</title></head><body><nav><a href='/a'>Accueil</a></nav></body></html>"
    assert extract_html(nav_only, "https://pharmacie.example/").language == "fr"


def test_reports_show_the_language_of_each_page(ruleset: RuleSet, tmp_path: Path) -> None:
    base = "https://grenzapotheke.example"
    pages = [
        (base + "/", f"<html><head><title>Start</title></head><body><a href='/faq'>FAQ</a><p>{SENTENCES['de']}</p></body></html>".encode(),
         "text/html; charset=utf-8"),
        (base + "/faq", f"<html><head><title>Aide</title></head><body><p>{SENTENCES['fr']}</p></body></html>".encode(),
         "text/html; charset=utf-8"),
    ]
    warc = write_warc(tmp_path / "site.warc.gz", pages)
    report = check_site(base + "/", CheckContext(ruleset=ruleset, options=FetchOptions(), archive=ArchiveIndex(warc)))
    data = json.loads(render_json(report))
    assert {p["url"]: p["language"] for p in data["pages"]} == {base + "/": "de", base + "/faq": "fr"}
    assert "languages: de (1), fr (1)" in render_text(report)
    assert "<td>fr</td>" in render_site_html(report)
