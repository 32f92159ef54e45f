"""The broader evidence of issue 17, as a user sees it on made-up pages: vetoes that must not
silence a shop's own sentence, names that are not offers, rogue marks without "no prescription",
and a pharmacy's own-words prescription flow."""

from __future__ import annotations

from pathlib import Path

import yaml

from pharmcheck.extract import extract_html
from pharmcheck.models import SiteFacts
from pharmcheck.rules import evaluate
from pharmcheck.ruleset import RuleSet

# Words so common in a shop's own sentences that, as a one-word sentence veto, they silence true
# evidence ("the lowest price of all websites", "why choose us?").
GENERIC_VETO_WORDS = {"website", "websites", "site", "sites", "why", "online", "internet", "pharmacy", "pharmacies"}


def _fired(ruleset: RuleSet, *paragraphs: str, title: str = "Page") -> set[str]:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    html = f"<html><head><title>{title}</title></head><body><main>{body}</main></body></html>"
    url = "https://shop.example.test/page"
    page = extract_html(html, url, ruleset.drug_index)
    site = SiteFacts(url=url, final_url=url, domain="example.test", host="shop.example.test", pages=[page])
    return {f.rule_id for f in evaluate(ruleset.rules, site)}


def test_no_rule_is_vetoed_by_one_generic_word_in_the_sentence(ruleset: RuleSet) -> None:
    offenders = []
    for path in sorted(Path(ruleset.source).rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in (doc or {}).get("rules", []) if isinstance(doc, dict) else []:
            for veto in rule.get("unless", []):
                text = veto.get("text") if isinstance(veto, dict) else None
                if text and text.get("window", "sentence") != "page":
                    offenders += [(rule["id"], w) for w in text.get("phrases", []) if w.lower() in GENERIC_VETO_WORDS]
    assert offenders == []


def test_a_shop_sentence_naming_websites_is_still_evidence(ruleset: RuleSet) -> None:
    fired = _fired(
        ruleset,
        "Buy cetirizine 10mg today: the best price of all websites.",
        "Delivery costs £3.50 per order on both our websites.",
        "A valid prescription is required for every order placed on our websites.",
    )
    assert {"SELL-DRUG-OFFER", "SELL-DELIVERY-TERMS", "RX-REQUIRES-PRESCRIPTION"} <= fired
    # Other people's websites, spoken of as advice, still veto.
    advice = _fired(ruleset, "Many websites that sell tramadol cheap are illegal: buy only from a registered pharmacy.")
    assert "SELL-DRUG-OFFER" not in advice


def test_why_in_a_shop_title_does_not_hide_a_no_prescription_offer(ruleset: RuleSet) -> None:
    assert "RX-NO-PRESCRIPTION-IN-NAME" in _fired(ruleset, "Fast shipping.", title="Why choose us? Order lorazepam without prescription")
    assert "RX-NO-PRESCRIPTION-IN-NAME" not in _fired(
        ruleset, "Read on.", title="Why you should never order lorazepam without a prescription")


def test_a_controlled_drug_named_beside_prescription_charges_is_no_offer(ruleset: RuleSet) -> None:
    fired = _fired(
        ruleset,
        "Prescription charges: card holders pay 2.50 per item, with a family maximum of 25.00.",
        "People in the treatment scheme receive methadone free of charge.",
    )
    assert not fired & {"RX-CONTROLLED-PRICED", "RX-CONTROLLED-NO-RX-STEP", "SELL-PRICED-DRUGS"}
    # The same drug with a price on a shop page is still an offer without a prescription step.
    shop = _fired(ruleset, "Methadone 10mg, 30 tablets: $89.00. Add to cart.")
    assert "RX-CONTROLLED-PRICED" in shop


def test_rogue_marks_without_the_words_no_prescription(ruleset: RuleSet) -> None:
    fired = _fired(
        ruleset,
        "We never print the names of medicines on the parcel, and parcels are mailed from a private address.",
        "If your parcel does not arrive it will be reshipped at no extra cost.",
        "Every order goes out in plain, unmarked packaging.",
    )
    assert {"COM-CONCEALED-SHIPMENT", "COM-FREE-RESHIP", "COM-DISCREET"} <= fired
    assert not _fired(ruleset, "Our pharmacy address is printed on every parcel.") & {"COM-CONCEALED-SHIPMENT"}


def test_a_pharmacy_telling_its_own_prescription_flow_is_a_seller(ruleset: RuleSet) -> None:
    fired = _fired(
        ruleset,
        "Ask us to contact your doctor, and we will prepare your medication for picking up.",
        "Turn on automatic refills for eligible prescriptions.",
    )
    assert "SELL-PRESCRIPTION-FLOW" in fired
    # The same steps told as advice to patients are not the site's own flow.
    assert "SELL-PRESCRIPTION-FLOW" not in _fired(ruleset, "Patients should ask the pharmacy to contact their doctor.")


def test_a_pharmacy_refusing_some_sales_is_no_third_party(ruleset: RuleSet) -> None:
    fired = _fired(
        ruleset,
        "We do not sell products of possible abuse, such as codeine syrups, by mail.",
        "We can only sell two packs of a pain reliever to each customer.",
    )
    assert "LIC-SUPPLY-LIMITS" in fired
    assert "NOT-SAYS-NO-SALES" not in fired
    # A site that says it sells no medicines at all still says so.
    assert "NOT-SAYS-NO-SALES" in _fired(ruleset, "We are an information service: we do not sell medicines.")


def test_pharmacy_practice_marks_of_a_licensed_dispenser(ruleset: RuleSet) -> None:
    fired = _fired(
        ruleset,
        "Under federal rules we can only dispense to patients in the United States.",
        "Some insurance plans restrict coverage for mail delivery, so call your insurance company to verify it.",
        "Keep your scripts on file with us and reorder your repeats from our app.",
    )
    assert {"LIC-SHIPS-WHERE-LICENSED", "LIC-INSURANCE-BILLED", "SELL-PRESCRIPTION-FLOW"} <= fired
    assert "LIC-SHIPS-WHERE-LICENSED" not in _fired(ruleset, "We ship worldwide to every country, fast.")
    # "Non-prescription" naming a product group is no offer without prescription.
    assert "RX-NO-PRESCRIPTION-UNNAMED" not in _fired(ruleset, "Non-prescription items can be added to any click and collect order.")


def test_third_parties_that_sell_nothing_say_so_in_their_own_ways(ruleset: RuleSet) -> None:
    card = _fired(ruleset, "Print the coupon and show it at the pharmacy counter at checkout. This card is not insurance.")
    comparison = _fired(ruleset, "We rate and review online pharmacies. Compare drug prices across licensed pharmacies near you.")
    leaflet = _fired(ruleset, "Common side effects are headache and nausea.",
                     "If you notice side effects, speak to your doctor or pharmacist and report them through the Yellow Card scheme.")
    assert "NOT-DISCOUNT-CARD" in card
    assert "NOT-PRICE-COMPARISON" in comparison
    assert "NOT-MEDICINE-LEAFLET" in leaflet
    # A pharmacy that takes discount cards or speaks of its own pharmacists is not one.
    assert "NOT-DISCOUNT-CARD" not in _fired(ruleset, "We accept most prescription discount cards at our counter.")
    assert "NOT-MEDICINE-LEAFLET" not in _fired(ruleset, "Side effects? Our pharmacists answer by phone. Speak to your doctor or pharmacist first.")


def test_a_press_article_on_buying_medicines_online_is_no_pharmacy_evidence(ruleset: RuleSet) -> None:
    article = _fired(
        ruleset,
        "Chi ha bisogno di un antidolorifico può comprarlo su un sito legale, riconoscibile dal logo comune europeo "
        "rilasciato dal Ministero della Salute.",
        "Sul web si possono comprare solo farmaci senza obbligo di prescrizione, come i farmaci da banco.",
        title="Come riconoscere una farmacia online",
    )
    assert "NOT-EU-CONSUMER-ADVICE" in article
    assert not article & {"LIC-EU-LOGO-CLAIMED", "LIC-EU-SUPERVISOR-NAMED", "RX-EU-OTC-ONLY-ONLINE"}
    # The pharmacy's own sentence is still its own.
    shop = _fired(ruleset, "Nella nostra farmacia online vendiamo solo farmaci senza obbligo di prescrizione, spediti in tutta Italia.",
                  title="Farmacia")
    assert "RX-EU-OTC-ONLY-ONLINE" in shop


def test_a_pharmacy_with_premises_and_public_drug_schemes(ruleset: RuleSet) -> None:
    fired = _fired(
        ruleset,
        "Order on the app and we send a text when your refill is ready for pick-up at the counter.",
        "Medical card holders pay a small charge per item, and PBS prescriptions are priced at the concession rate.",
    )
    assert {"ID-WALK-IN-PHARMACY", "LIC-INSURANCE-BILLED"} <= fired
    # Advice about checking a pharmacy's address is no premises of the site's own.
    assert "ID-WALK-IN-PHARMACY" not in _fired(ruleset, "Consumers should make sure they can collect their medicines from a real pharmacy.")


def test_community_pharmacy_services_in_european_languages(ruleset: RuleSet) -> None:
    assert "ID-EU-PHARMACY-PRACTICE" in _fired(
        ruleset, "Unser Botendienst bringt Ihnen Ihre Arzneimittel noch am selben Tag nach Hause.", title="Apotheke")
    assert "ID-EU-PHARMACY-PRACTICE" in _fired(
        ruleset, "U kunt uw herhaalmedicatie online bestellen en ophalen in de apotheek.", title="Apotheek")
    # A reader's question about the on-duty pharmacy is no service of the site's own.
    assert "ID-EU-PHARMACY-PRACTICE" not in _fired(ruleset, "Welche Apotheke in der Stadt hat heute Notdienst?", title="Frage")
