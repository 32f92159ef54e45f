"""Rogue marks that do not say "no prescription" (issue 17): text written for another website
(the `other_site` matcher), parcels through customs, controlled drugs sold by class or named in
the host, the buyer made the importer, chargeback threats, discreet billing; and the
abstention's tolerance on the rogue side.

Every site here is made up for these tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pharmcheck.check import CheckContext, check_site
from pharmcheck.extract import DrugIndex, extract_html
from pharmcheck.fetch import ArchiveIndex
from pharmcheck.fetch.pagedir import write_warc
from pharmcheck.models import DrugLexicon, Report, SiteFacts, Verdict
from pharmcheck.rules.compile import CompileError, compile_rule
from pharmcheck.rules.engine import evaluate
from pharmcheck.rules.matchers.othersite import same_owner
from pharmcheck.rules.schema import Rule, RuleSetData
from pharmcheck.ruleset import RuleSet
from pharmcheck.urls import has_public_suffix, host_of, registrable_domain

COPIED = "These terms apply to your use of the www.linden-chemist.co.uk website and every order you place."


def _other_site(**options: Any) -> Any:
    body = {"id": "T-OTHER", "criterion": "identity", "name": "other site", "description": "d", "severity": "critical",
            "weight": -40, "confidence": "medium", "match": {"other_site": options}, "references": ["r"],
            "examples": {"match": ["x"], "no_match": ["y"]}}
    return compile_rule(Rule.model_validate(body), RuleSetData())


def _fired(rule: Any, url: str, text: str) -> list[str]:
    facts = extract_html(f"<p>{text}</p>", url, DrugIndex(DrugLexicon()))
    host = host_of(url)
    site = SiteFacts(url=url, final_url=url, domain=registrable_domain(host), host=host, pages=[facts])
    return [e.text for f in evaluate([rule], site) for e in f.evidence]


def test_other_site_fires_on_an_address_that_is_not_the_sites_own() -> None:
    r = _other_site(before=["use of", "purchase from"])
    evidence = _fired(r, "https://cheap-deals-rx.test/terms", COPIED)
    assert len(evidence) == 1
    assert "names linden-chemist.co.uk; this site is cheap-deals-rx.test" in evidence[0]
    assert "your use of the www.linden-chemist.co.uk website" in evidence[0]
    # The same words on the site they were written for, or on its other domains, are no mark.
    assert _fired(r, "https://www.linden-chemist.co.uk/terms", COPIED) == []
    assert _fired(r, "https://shop.lindenchemist.com/terms", COPIED) == []
    # Not an address: no public suffix after the dot.
    assert _fired(r, "https://cheap-deals-rx.test/", "Limits on use of e.g. coupons apply.") == []
    assert _fired(r, "https://cheap-deals-rx.test/", "You may purchase from 3.5 pounds.") == []


def test_other_site_vetoes_near_the_match_only() -> None:
    r = _other_site(before=["use of"], unless_near=["formerly"])
    assert _fired(r, "https://cheap-deals-rx.test/", "Your use of harbour-pharma.com, formerly our name, is welcome.") == []
    # A veto word elsewhere on the page does not silence the copied sentence.
    assert _fired(r, "https://cheap-deals-rx.test/", f"{COPIED} Our shop was formerly a market stall.") != []


def test_other_site_needs_phrases() -> None:
    with pytest.raises(CompileError, match="before"):
        _other_site(before=[])


def test_same_owner_and_public_suffix() -> None:
    assert same_owner("forhims.com", "hims.com")
    assert same_owner("linden-chemist.co.uk", "lindenchemist.com")
    assert not same_owner("linden-chemist.co.uk", "cheap-deals-rx.test")
    assert not same_owner("ro.co", "brochemist.com")  # brand names this short say nothing
    assert has_public_suffix("www.linden-chemist.co.uk") and not has_public_suffix("e.g")


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return RuleSet.load()


def _check(ruleset: RuleSet, tmp_path: Path, host: str, pages: dict[str, str]) -> Report:
    nav = "".join(f'<a href="/{p}/">{p}</a> ' for p in pages)

    def html(title: str, body: str) -> bytes:
        return f"<html><head><title>{title}</title></head><body><nav>{nav}</nav><main>{body}</main></body></html>".encode()

    base = f"https://{host}"
    records = [(base + "/", html(host, ""), "text/html")]
    records += [(f"{base}/{path}/", html(path, f"<p>{body}</p>"), "text/html") for path, body in pages.items()]
    warc = write_warc(tmp_path / f"{host}.warc.gz", records)
    return check_site(base + "/", CheckContext(ruleset=ruleset, archive=ArchiveIndex(warc)))


def test_a_copycat_of_a_registered_pharmacys_terms_is_no_legitimate_pharmacy(ruleset: RuleSet, tmp_path: Path) -> None:
    report = _check(ruleset, tmp_path, "budget-meds-direct.test", {
        "terms": f"{COPIED} We are Linden Chemist Ltd, registered with the General Pharmaceutical Council, "
                 "registration number 1098765. We dispense NHS and private prescriptions and deliver in the UK.",
    })
    assert report.verdict != Verdict.legitimate
    finding = next(f for f in report.findings if f.rule_id == "ID-ANOTHER-SITES-TERMS")
    assert "names linden-chemist.co.uk" in finding.evidence[0].text
    # The explanation names the copied terms among what decided the verdict.
    deciding = " ".join(f"{c.rule} {c.detail}" for c in report.contributions)
    assert "ID-ANOTHER-SITES-TERMS" in deciding or finding.message in deciding


@pytest.mark.parametrize(("host", "page", "rule_id"), [
    ("quickparcel-meds.test", "Allow two extra weeks when customs checks are slow; parcels stuck at customs are resent.",
     "COM-PARCELS-THROUGH-CUSTOMS"),
    ("restful-nights.test", "Strong sleeping tablets are available online here, sent to you in two days.",
     "RX-CONTROLLED-CLASS-OFFER"),
    ("sleepingtablets-direct.test", "Fast delivery to your door. Pay by card at checkout.", "COM-HOST-CONTROLLED-CLASS"),
    ("brokerage-meds.test", "The buyer acts as the importer of every parcel; we pass your order to a supplier.",
     "COM-BUYER-CHECKS-LEGALITY"),
    ("calm-order.test", "Diazepam 10mg: each customer has an ordering limit of one pack a month.",
     "RX-CONTROLLED-NO-RX-STEP"),
    ("vital-tabs.test", "Filing a chargeback instead of writing to us is card fraud and goes to our debt collection partner.",
     "COM-CHARGEBACK-THREAT"),
    ("vital-tabs.test", "Every order comes with discreet billing, so nobody reading the statement knows.", "COM-CARD-WORKAROUND"),
])
def test_rogue_marks_without_no_prescription_words(ruleset: RuleSet, tmp_path: Path, host: str, page: str, rule_id: str) -> None:
    report = _check(ruleset, tmp_path, host, {"delivery": page})
    assert rule_id in {f.rule_id for f in report.findings}, report.summary
    assert report.verdict != Verdict.legitimate


def test_the_rogue_side_may_tolerate_more_legitimate_probability_than_the_legitimate_side() -> None:
    pytest.importorskip("sklearn")
    from pharmcheck.judge.fit import FitSettings, _choose_abstention

    # Held-out rogue shops that read like pharmacies (P(legitimate) 0.35-0.4) and clear
    # legitimate sites: committing to rogue on them costs nothing here, abstaining does.
    rogue = [{"legitimate": 0.38, "rogue": 0.58, "not_pharmacy": 0.04}] * 5
    legit = [{"legitimate": 0.9, "rogue": 0.05, "not_pharmacy": 0.05}] * 5
    chosen = _choose_abstention(rogue + legit, ["rogue"] * 5 + ["legitimate"] * 5, FitSettings())
    assert chosen.rogue_max_legitimate > 0.38
    # A legitimate verdict never tolerates more than 0.3 of rogue, whatever the sites.
    legit_doubt = [{"legitimate": 0.6, "rogue": 0.38, "not_pharmacy": 0.02}] * 5
    chosen = _choose_abstention(legit_doubt, ["legitimate"] * 5, FitSettings())
    assert chosen.legitimate_max_rogue <= 0.3
