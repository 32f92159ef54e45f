"""Lemma phrases: braced words match their inflected forms, from the generated table."""

from __future__ import annotations

from pathlib import Path

import yaml

from pharmcheck.rules.inflect import braced_words, expand, invert
from pharmcheck.rules.lemmatables import FILE_NAME, LEMMA_LANGUAGES, lemma_phrases
from pharmcheck.rules.load import default_rules_dir, load_data
from pharmcheck.ruleset import RuleSet
from test_rules_traps import verdict


def test_braced_words_expand_to_every_form_and_the_rest_stays() -> None:
    forms = {"rezept": ["rezepte", "rezepts"], "einlösen": ["eingelöst"]}
    assert braced_words("{Rezept} {einlösen} bitte") == ["rezept", "einlösen"]
    assert expand("{Rezept} {einlösen}", forms) == [
        "rezept einlösen", "rezept eingelöst", "rezepte einlösen", "rezepte eingelöst", "rezepts einlösen", "rezepts eingelöst"]
    assert expand("bez {recepta}", {"recepta": ["recepty"]}) == ["bez recepta", "bez recepty"]
    assert expand("ohne Rezept", forms) == ["ohne rezept"]  # no braces: the phrase as written


def test_invert_keeps_the_forms_of_the_wanted_lemmas_only() -> None:
    pairs = [("Rezepte", "Rezept"), ("Rezepts", "Rezept"), ("Häuser", "Haus"), ("Rezept", "Rezept")]
    assert invert(pairs, {"rezept", "apotheke"}) == {"apotheke": [], "rezept": ["rezepte", "rezepts"]}


def test_the_shipped_table_covers_every_braced_word_of_the_rules() -> None:
    rules_dir = Path(default_rules_dir())
    table = yaml.safe_load((rules_dir / "data" / FILE_NAME).read_text(encoding="utf-8"))["inflections"]
    assert sorted(table) == sorted(LEMMA_LANGUAGES)
    lists = load_data(rules_dir).lists
    used = {w for path in rules_dir.rglob("*.yaml") if "data" not in path.parts
            for phrase in lemma_phrases(yaml.safe_load(path.read_text(encoding="utf-8")), lists) for w in braced_words(phrase)}
    assert used, "the shipped rules use lemma phrases"
    for language, lemmas in table.items():
        missing = used - set(lemmas)
        assert not missing, f"{FILE_NAME} is stale for {language} ({sorted(missing)}): run python -m pharmcheck.rules.lemmatables"


def test_an_inflected_form_on_a_page_fires_the_lemma_phrase(ruleset: RuleSet) -> None:
    assert ruleset.data.inflections["rezept"]  # loaded from the table
    _, fired = verdict(ruleset, "https://apotheke-beispiel.test/", {
        "/rezept": "<p>Sind Ihre Rezepte eingesandt, liefern wir am nächsten Werktag.</p>"})
    assert "RX-EU-PRESCRIPTION-SENT" in fired
