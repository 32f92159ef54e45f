"""Context traps, on made-up sites: the verdict must follow what the site does, not its vocabulary."""

from __future__ import annotations

import pytest

from pharmcheck.extract import extract_html
from pharmcheck.models import SiteFacts
from pharmcheck.rules import evaluate
from pharmcheck.ruleset import RuleSet
from pharmcheck.score import score_site
from pharmcheck.urls import host_of, registrable_domain


def verdict(ruleset: RuleSet, url: str, pages: dict[str, str]) -> tuple[str, set[str]]:
    index = ruleset.drug_index
    facts = [extract_html(f"<html><head><title>{path}</title></head><body><main>{html}</main></body></html>", url.rstrip("/") + path, index)
             for path, html in pages.items()]
    host = host_of(url)
    site = SiteFacts(url=url, final_url=url, domain=registrable_domain(host), host=host, pages=facts)
    findings = evaluate(ruleset.rules, site)
    return score_site(findings, ruleset.scoring, assessed=True).verdict.value, {f.rule_id for f in findings}


CASES = {
    "study of rogue sites": ("not_pharmacy", "https://lab.university-example.test/", {
        "/papers/online-opioids": "<p>We analysed 800 online pharmacies selling opioids without prescription; "
                                  "researchers found most operated illegally.</p>",
    }),
    "pharmacy taking prescriptions by upload": ("legitimate", "https://www.town-pharmacy.test/", {
        "/upload": "<p>Upload a valid prescription from a registered doctor to order prescription medicines. "
                   "Our pharmacist verifies every prescription before dispatch.</p>"
                   "<form method='post'><input type='file' name='prescription'></form>"
                   "<p>Pharmacy licence number PH-204518.</p>",
    }),
    "shop of vitamins and OTC painkillers saying no prescription needed": ("suspicious", "https://vita-corner.test/", {
        "/": "<p>Shop vitamin D, fish oil and ibuprofen tablets. No prescription needed. Free delivery over 20 pounds.</p>"
             "<p>Ibuprofen 200mg, 16 tablets £1.49. Add to basket.</p>",
    }),
    "no prescription? no problem, our doctors issue one": ("rogue", "https://quick-script.test/", {
        "/how": "<p>We require a valid prescription. No prescription? No problem: fill in our short form and our doctors "
                "will issue one for free.</p><p>Tramadol 50mg $1.20 per pill. Order now.</p>",
    }),
    "reassuring words next to a prescription sold by the seller": ("rogue", "https://meds-direct.test/", {
        "/delivery": "<p>We require a valid prescription for all orders. No prescription? Our partner doctors will write "
                     "a prescription for you for $25 at checkout.</p><p>Shipping costs $20 per order.</p>",
    }),
    "controlled drugs as plain products": ("rogue", "https://sleepwell-store.test/", {
        "/shop/zopiclone-7-5mg": "<h1>Buy Zopiclone 7.5mg</h1><p>Zopiclone 7.5mg x 90 tablets: $120. Add to cart.</p>",
    }),
    "crypto discount and customs disclaimer": ("rogue", "https://pharma-easy.test/", {
        "/payment": "<p>Pay with Bitcoin and save 20% on every order.</p>",
        "/shipping": "<p>We are not responsible for parcels seized by customs.</p><p>Sildenafil 100mg $0.80 per pill.</p>",
    }),
    "regulator with heavy pharmacy vocabulary": ("not_pharmacy", "https://www.pharmacy-council.test/", {
        "/online": "<p>We regulate pharmacies and pharmacists. Only registered pharmacies may supply prescription-only "
                   "medicines, and never without a prescription. Search our online register before you buy.</p>"
                   "<p>We would advise anyone buying medicines online to check the pharmacy is registered.</p>",
    }),
    "news report on rogue sites": ("not_pharmacy", "https://daily-news.test/", {
        "/health/pills-online": "<h1>Study: study drugs sold online without prescription</h1>"
                                "<p>Researchers found 30 websites selling modafinil to students, no prescription needed. "
                                "The findings were published in the journal Addiction; the authors urged buyers to avoid such sites.</p>",
    }),
    "charity advice page": ("not_pharmacy", "https://epilepsy-support.test/", {
        "/medicines": "<p>Never buy epilepsy medicines such as clonazepam without a prescription.</p>"
                      "<p>We are a registered charity, number 1123456. Donate now to support our helpline.</p>",
    }),
    "licensed pharmacy selling OTC products without prescription": ("legitimate", "https://www.corner-chemist.test/", {
        "/about": "<p>Corner Chemist is registered with the General Pharmaceutical Council, registration number 1122334.</p>",
        "/prescriptions": "<p>A valid prescription is required for prescription-only medicines. Ask your GP to send "
                          "your prescription to us electronically.</p>",
        "/hay-fever": "<p>Hay fever tablets: no prescription needed. Cetirizine 10mg, 30 tablets £2.99. Add to basket.</p>",
    }),
    "licensed online doctor that helps when you have no prescription": ("legitimate", "https://www.clinic-online.test/", {
        "/how-it-works": "<p>Don't have a prescription? If you don't have a prescription, our online consultation lets a "
                         "clinician assess whether treatment is suitable. Our clinicians prescribe only if it is appropriate.</p>",
        "/about": "<p>We are registered with the Care Quality Commission, provider ID 1-123456789.</p>"
                  "<p>Our doctors review every request. We dispense and deliver your medicines.</p>",
    }),
    "licensed pharmacy with NHS services and steroid creams": ("legitimate", "https://www.high-street-chemist.test/", {
        "/services": "<p>Through Pharmacy First our pharmacists can treat seven conditions without a prescription. "
                     "Flu jab: no prescription needed.</p>",
        "/eczema": "<p>Buy eczema creams: topical steroids such as hydrocortisone 1%, £4.99. Add to basket.</p>",
        "/about": "<p>We are registered with the General Pharmaceutical Council, registration number 1029384. "
                  "A valid prescription is required for prescription-only medicines.</p>",
    }),
    "prescription discount card programme": ("not_pharmacy", "https://www.rx-savings-club.test/", {
        "/how-it-works": "<p>Print your free card and show it at the pharmacy counter when you collect your prescription. "
                         "The prescription savings card works at most drugstores. This card is not insurance.</p>",
    }),
    "drug price comparison and pharmacy rating service": ("not_pharmacy", "https://www.pharmacy-prices.test/", {
        "/about": "<p>We review and rate online pharmacies. Compare drug prices across licensed pharmacies and see a "
                  "pharmacy profile for each one before you order from it. Questions? Call our office.</p>",
    }),
    "medicine leaflet on a patient charity's site": ("not_pharmacy", "https://www.mood-help.test/", {
        "/medicines/citalopram": "<p>Citalopram is an antidepressant. Common side effects are nausea, headache and dry mouth.</p>"
                                 "<p>If side effects worry you, speak to your doctor or pharmacist and report them via the Yellow Card scheme.</p>",
    }),
    "harm-reduction blog on counterfeit pills": ("not_pharmacy", "https://www.safer-nights.test/", {
        "/blog/pressed-pills": "<p>Dealers buy cheap alprazolam powder in bulk and press their own pills. If you buy Xanax on "
                               "the black market, test every pill first.</p>",
    }),
    "forum post saying a drug should not be sold without a prescription": ("not_pharmacy", "https://www.taper-friends.test/", {
        "/topic/123": "<p>Thanks for posting this. In my opinion diazepam shouldn't be available without a prescription at all.</p>",
    }),
    "news report that counts sites and their warnings": ("not_pharmacy", "https://www.daily-post.test/", {
        "/health/sleep-pills": "<h1>Sleep pills sold online, doctors warn</h1>"
                               "<p>Most gave warnings about dosage, yet many said zopiclone needed no prescription for purchase.</p>",
    }),
    "prescription promise next to controlled drugs and crypto": ("rogue", "https://calm-meds.test/", {
        "/shop": "<p>Buy Valium 10mg, in stock. A valid prescription is required.</p>"
                 "<p>Pay with Bitcoin for a 15% discount.</p>",
    }),
}


@pytest.mark.parametrize("name", list(CASES))
def test_verdict_follows_what_the_site_does(ruleset: RuleSet, name: str) -> None:
    expected, url, pages = CASES[name]
    got, fired = verdict(ruleset, url, pages)
    assert got == expected, (name, sorted(fired))
