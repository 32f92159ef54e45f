"""Europe in its own languages, on made-up sites: the verdict follows what a European site does
(and what its country's law allows), and the EU reference data agrees with itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pharmcheck.rules.load import default_rules_dir
from pharmcheck.ruleset import RuleSet
from test_rules_traps import verdict

CASES = {
    "German mail-order pharmacy asking for the original prescription by post": ("legitimate", "https://www.beispiel-versandapotheke.de/", {
        "/impressum": "<p>Beispiel-Apotheke, Inhaberin: Apothekerin Dr. Anna Beispiel e.K., Lindenstraße 4, 12345 Musterstadt.</p>"
                      "<p>Handelsregister: Amtsgericht Musterstadt, HRA 1234. Zuständige Aufsichtsbehörde: Landesamt für Gesundheit. "
                      "Zuständige Apothekerkammer: Apothekerkammer Musterland.</p>",
        "/rezept": "<p>Verschreibungspflichtige Arzneimittel liefern wir nur gegen Rezept: schicken Sie uns Ihr Originalrezept "
                   "im portofreien Freiumschlag.</p><p>Tadalafil 20 mg, 12 Tabletten – in den Warenkorb.</p>",
    }),
    "French shop delivering prescription-only drugs with no prescription step": ("rogue", "https://www.pharma-express-exemple.fr/", {
        "/boutique": "<p>Xanax 1 mg, 30 comprimés : ajouter au panier. Livraison à domicile en 24 h.</p>"
                     "<p>Tramadol 50 mg : ajouter au panier.</p>",
    }),
    "Italian shop offering prescription drugs without a prescription": ("rogue", "https://www.farmaci-rapidi-esempio.it/", {
        "/negozio": "<p>Cialis 20 mg senza ricetta: aggiungi al carrello, consegna a casa in 48 ore.</p>",
    }),
    "Italian pharmacy that sells only non-prescription medicines online": ("legitimate", "https://www.farmacia-del-ponte-esempio.it/", {
        "/chi-siamo": "<p>La nostra farmacia è iscritta all'Ordine dei Farmacisti della provincia. "
                      "Farmacista responsabile: Dott.ssa Giulia Bianchi.</p>",
        "/vendita-online": "<p>Sul nostro sito vendiamo solo farmaci senza obbligo di prescrizione e prodotti da banco.</p>"
                           "<p>Ibuprofene 400 mg, 12 compresse – aggiungi al carrello.</p>",
    }),
    "Dutch consumer programme warning about illegal pills": ("not_pharmacy", "https://www.omroep-voorbeeld.nl/", {
        "/artikel": "<p>Online medicijnen kopen? Pas op voor nepmedicijnen: wie zonder recept Viagra bestelt, loopt een risico. "
                    "De inspectie waarschuwt voor illegale online apotheken.</p>",
    }),
    "Polish news report on counterfeit drugs": ("not_pharmacy", "https://zdrowie-przyklad.pl/", {
        "/artykul": "<p>Policja zlikwidowała fabrykę, która produkowała sfałszowane leki na potencję; nielegalne apteki sprzedawały je bez recepty.</p>",
    }),
    "Spanish shop named for buying Kamagra": ("rogue", "https://www.comprar-kamagra-ejemplo.es/", {
        "/condiciones": "<p>Condiciones generales de venta de la tienda: su pedido se envía en 24 horas.</p>",
    }),
}


@pytest.mark.parametrize("name", list(CASES))
def test_verdict_follows_what_the_european_site_does(ruleset: RuleSet, name: str) -> None:
    expected, url, pages = CASES[name]
    got, fired = verdict(ruleset, url, pages)
    assert got == expected, (name, sorted(fired))


def _data(name: str) -> dict:
    return yaml.safe_load((Path(default_rules_dir()) / "data" / f"{name}.yaml").read_text(encoding="utf-8"))


def test_distance_selling_lists_agree_with_the_law_table() -> None:
    law = _data("eu_law")
    banned = {row["tld"] for row in law["distance_selling"] if not row["rx_by_mail"]}
    assert {host.strip("\\.$") for host in law["eu_rx_distance_banned_hosts"]} == banned
    allowed_languages = {"de", "nl", "sv", "da", "fi"}  # spoken in a market that allows mail order
    assert not allowed_languages & set(law["eu_rx_distance_banned_languages"])
    for row in law["distance_selling"]:
        assert row["law"] and row["references"], row["country"]


def test_european_drug_spellings_keep_the_schedule_of_their_drug() -> None:
    seen: dict[str, tuple[str, str]] = {}
    for entry in _data("drugs")["drugs"]:
        kind = (entry.get("schedule", "rx"), entry.get("category", ""))
        assert seen.setdefault(entry["name"], kind) == kind, entry["name"]


def test_lexicon_knows_local_spellings_and_brands(ruleset: RuleSet) -> None:

    found = ruleset.drug_index.find("Tramal, Stilnox, Lexotanil, Rivotril, Tavor, oxicodona, codéine et sildénafil")
    assert {d.name for d in found} == {"tramadol", "zolpidem", "bromazepam", "clonazepam", "lorazepam", "oxycodone", "codeine", "sildenafil"}


ENGLISH_PAGE = ("<p>The commander of the expedition carried tramadol in the first-aid kit, as the doctor had advised, "
                "and the team kept a careful record of every dose given during the long winter.</p>")
FRENCH_PAGE = ("<p>Le tramadol est un antalgique : commander en ligne, livraison à domicile en quarante-huit heures, "
               "paiement sécurisé par carte bancaire pour toutes les commandes passées sur notre site.</p>")


def test_a_rule_scoped_to_languages_skips_pages_detected_in_another_language(ruleset: RuleSet) -> None:
    _, fired_en = verdict(ruleset, "https://expedition-story.test/", {"/story": ENGLISH_PAGE})
    _, fired_fr = verdict(ruleset, "https://pharmacie-exemple.test/", {"/boutique": FRENCH_PAGE})
    assert "SELL-EU-DRUG-OFFER" not in fired_en
    assert "SELL-EU-DRUG-OFFER" in fired_fr


def test_the_language_matcher_makes_a_french_dot_com_shop_answer_to_french_law(ruleset: RuleSet) -> None:
    got, fired = verdict(ruleset, "https://pilules-exemple.com/", {"/boutique": FRENCH_PAGE})
    assert "RX-EU-RX-DISTANCE-BANNED" in fired and got == "rogue"
    # the same shop in German (Germany allows mail order on prescription) is not judged by French law
    german = ("<p>Tramadol 50 mg, 20 Kapseln: jetzt bestellen, Lieferung nach Hause in zwei Tagen, sichere Zahlung "
              "per Rechnung für alle Bestellungen in unserem Shop.</p>")
    _, fired_de = verdict(ruleset, "https://pillen-beispiel.com/", {"/shop": german})
    assert "RX-EU-RX-DISTANCE-BANNED" not in fired_de


def test_the_crawler_follows_european_page_names() -> None:
    from pharmcheck.fetch.policy import CrawlFrontier

    frontier = CrawlFrontier("https://www.apotheke-beispiel.test/", max_pages=10)
    frontier.mark_visited("https://www.apotheke-beispiel.test/")
    frontier.add_links([
        ("https://www.apotheke-beispiel.test/galerie", "Galerie"),
        ("https://www.apotheke-beispiel.test/rezept-einloesen", "Rezept einlösen"),
        ("https://www.apotheke-beispiel.test/mentions-legales", "Mentions légales"),
        ("https://www.apotheke-beispiel.test/offerte", "Offerte"),
        ("https://www.apotheke-beispiel.test/versand", "Versand"),
    ])
    picked = []
    while (url := frontier.next_url()) is not None:
        picked.append(url.rsplit("/", 1)[-1])
        frontier.mark_visited(url)
    assert picked[0] == "rezept-einloesen"  # the prescription policy first
    assert set(picked[:4]) == {"rezept-einloesen", "mentions-legales", "offerte", "versand"}  # before the gallery


SHOP_PAGE = ("<html><head><title>{title}</title></head><body><h1>{title}</h1>"
             "<p>Buy {drug} 50 mg tablets online, in stock now. Add to cart.</p></body></html>")


@pytest.mark.parametrize(("drug", "host", "controlled"), [
    ("tramadol", "apotheke-beispiel.com", True),   # US and UK law: a controlled drug
    ("tramadol", "apotheke-beispiel.de", False),   # Germany: prescription-only, not a Betaeubungsmittel
    ("tramadol", "apotheek-voorbeeld.nl", False),  # the Netherlands: not on the Opiumwet lists
    ("tramadol", "tabletten.se", True),            # Sweden names no exception: the default stands
    ("modafinil", "wakeful-example.com", True),    # US CSA schedule IV
    ("modafinil", "wakeful-example.co.uk", False), # UK: a prescription-only medicine, not controlled
    ("gabapentin", "nerve-example.us", False),     # not federally scheduled in the US
    ("gabapentin", "nerve-example.co.uk", True),   # UK: class C since 2019
])
def test_a_drugs_schedule_follows_the_market_of_the_page(tmp_path: Path, drug: str, host: str,
                                                        controlled: bool) -> None:
    import shutil


    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    (rules / "market.yaml").write_text("""rules:
  - id: TEST-CONTROLLED-HERE
    criterion: prescription
    name: A drug controlled in the page's market is sold
    description: a test rule judging schedules by the page's market
    severity: high
    weight: -20
    confidence: medium
    message: a drug controlled here is sold
    match:
      all:
        - drug: {schedule: [controlled], market: true}
        - text: {phrases: [add to cart]}
    references: ["rules/data/drugs.yaml, markets"]
    examples:
      match: ["Oxycodone 10 mg: add to cart.", "Xanax 2 mg, add to cart now."]
      no_match: ["Add to cart.", "Vitamin C: add to cart."]
""")
    market_rules = RuleSet.load(rules)
    _, fired = verdict(market_rules, f"https://{host}/", {"/shop": SHOP_PAGE.format(title="Online shop", drug=drug)})
    assert ("TEST-CONTROLLED-HERE" in fired) == controlled
    assert "RX-CONTROLLED-FOR-SALE" in fired  # the shipped rules keep the strictest schedule


def test_a_page_without_a_country_code_takes_its_languages_market(ruleset: RuleSet) -> None:
    from pharmcheck.models import DrugLexicon, DrugMention, PageFacts
    from pharmcheck.rules.matchers.catalogue import DrugMarkets
    from pharmcheck.rules.page import Page

    markets = DrugMarkets.of(ruleset.data.drugs)

    def market(url: str, language: str) -> str:
        return markets.market(Page(PageFacts(url=url, language=language), "x"))

    assert market("https://versand-beispiel.com/", "de") == "de"  # a German page on a generic TLD
    assert market("https://versand-beispiel.at/", "de") == "de"   # .at names no market here: the language's
    assert market("https://shop-example.com/", "en") == ""        # English on .com: the default schedule
    assert market("https://shop-example.co.uk/", "de") == "uk"    # the country code wins over the language
    tramadol = DrugMention(name="tramadol", matched="tramadol", schedule="controlled")
    assert markets.schedule(tramadol, "de") == "rx" and markets.schedule(tramadol, "") == "controlled"
    with pytest.raises(ValueError, match="schedule"):
        DrugLexicon.model_validate({"drugs": [{"name": "x", "markets": {"de": "narcotic"}}]})
