"""The fitted judgement: refit on a small made-up corpus, prediction without scikit-learn,
vetoes, explanations, and the `rules fit` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pharmcheck.errors import RuleError
from pharmcheck.extract import extract_html
from pharmcheck.judge.corpus import collect, load_labelled
from pharmcheck.judge.features import hashed
from pharmcheck.judge.fit import FitSettings, cross_validate, examples_from, fit_corpora, fit_judge
from pharmcheck.judge.model import Abstention, JudgeModel, load_model
from pharmcheck.models import Confidence, Finding, Severity, Verdict
from pharmcheck.ruleset import RuleSet
from sitekit import EXAMPLES

pytest.importorskip("sklearn")

# Made-up sites, written for these tests. Each label has its own wording, varied per site so
# the text model sees words shared by several sites (a word on fewer than 3 sites is ignored).
CITIES = ["Ashford", "Brampton", "Carlow", "Dunmore", "Elgin", "Fenwick", "Garston"]
LEGIT_PAGES = {
    "faq": "How do I send my prescription? Ask your doctor to send the prescription to us electronically. "
           "Our pharmacists check every prescription before we dispense it. We are registered with the General "
           "Pharmaceutical Council, registration number 10{n}4567. Our superintendent pharmacist answers questions.",
    "delivery": "We deliver your medicines to your door in {city}. Repeat prescriptions are sent when your GP approves them.",
}
ROGUE_PAGES = {
    "shop/tramadol": "Buy tramadol 100mg online without a prescription. No prescription needed, overnight shipping "
                     "to {city}. Order now: $2.{n}9 per pill.",
    "payment": "Pay with bitcoin and get 20% off. Discreet packaging, free reshipping if customs seize the parcel.",
}
NEWS_PAGES = {
    "faq": "Regulators warn consumers in {city} about websites selling medicines without a prescription. "
                    "According to a study published this week, researchers found that many such websites are unlicensed.",
    "about": "We are a consumer charity. We report on health news and enforcement and publish guidance for patients.",
}
LABELLED = {"legitimate": ("pharmacy", LEGIT_PAGES), "rogue": ("pills", ROGUE_PAGES), "not_pharmacy": ("health-news", NEWS_PAGES)}
PER_LABEL = 6


def _page(title: str, body: str, nav: list[str]) -> str:
    links = "".join(f'<a href="/{p}/">{p}</a> ' for p in nav)
    return f"<html><head><title>{title}</title></head><body><nav>{links}</nav><main><p>{body}</p></main></body></html>"


def write_corpus(root: Path, per_label: int = PER_LABEL) -> Path:
    for label, (kind, pages) in LABELLED.items():
        for n in range(per_label):
            host = f"{CITIES[n].lower()}-{kind}.test"
            site = root / host
            (site / "pages").mkdir(parents=True)
            (site / "site.json").write_text(json.dumps({"url": f"https://{host}/", "label": label, "language": "en"}))
            (site / "pages" / "index.html").write_text(_page(host, "", list(pages)))
            for path, text in pages.items():
                out = site / "pages" / f"{path}.html"
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(_page(path, text.format(n=n, city=CITIES[n]), list(pages)))
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def fitted(corpus: Path, ruleset: RuleSet) -> JudgeModel:
    model, counts = fit_corpora([str(corpus)], ruleset)
    assert counts == {"legitimate": PER_LABEL, "rogue": PER_LABEL, "not_pharmacy": PER_LABEL}
    return model


def _pushes(model: JudgeModel, feature: str, toward: str) -> float:
    """How much `feature` pushes toward class `toward` relative to the average class."""
    weights = [model.coef[c].get(feature, 0.0) for c in model.classes]
    return model.coef[toward].get(feature, 0.0) - sum(weights) / len(weights)


def test_refit_learns_the_expected_signs(fitted: JudgeModel) -> None:
    assert _pushes(fitted, "red_flags:critical", "rogue") > 0
    assert _pushes(fitted, "red_flags:critical", "legitimate") < 0
    assert _pushes(fitted, "page:article", "not_pharmacy") > 0
    assert _pushes(fitted, "text:rogue", "rogue") > 0
    # Many distinct rogue marks add up toward rogue; the seller gate's own verdict is no feature.
    assert _pushes(fitted, "marks:rogue", "rogue") > 0
    assert _pushes(fitted, "marks:legitimate", "legitimate") > 0
    assert not fitted.knows("scoring:not_pharmacy")
    assert fitted.text is not None
    rogue_words = fitted.text.top_words({"bitcoin", "discreet", "pharmacists", "regulators"}, "rogue", n=2)
    assert set(rogue_words) == {"bitcoin", "discreet"}


def test_refit_is_deterministic(corpus: Path, ruleset: RuleSet, fitted: JudgeModel) -> None:
    again, _ = fit_corpora([str(corpus)], ruleset)
    assert again.to_dict() == fitted.to_dict()


def test_a_site_name_is_never_text_evidence(corpus: Path, ruleset: RuleSet, fitted: JudgeModel) -> None:
    # "ashford" is in one host and on that site's pages only: below the 3-site threshold, and
    # a site's own host words are left out of its text altogether.
    assert fitted.text is not None
    assert "ashford" not in fitted.text.top_words({"ashford", "bitcoin"}, "rogue")
    (ev,) = collect([s for s in load_labelled([corpus]) if s.host == "ashford-pills.test"], ruleset)
    assert "ashford" not in examples_from([ev], ruleset)[0].tokens


def test_saved_model_predicts_the_same_and_unknown_features_weigh_nothing(fitted: JudgeModel, tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    fitted.save(path)
    loaded = JudgeModel.load(path)
    feats = {"red_flags:critical": 1.0, "page:article": 0.5, "text:rogue": 0.7}
    assert loaded.probabilities(feats) == pytest.approx(fitted.probabilities(feats), abs=1e-5)
    # A feature unknown to the model, with no fired rule behind it, does not move the prediction.
    assert loaded.probabilities({**feats, "rule:NEW-RULE-FROM-LATER": 1.0}) == loaded.probabilities(feats)
    assert loaded.prior == fitted.prior


def test_a_rule_the_fit_never_saw_weighs_its_prior_by_severity_and_direction() -> None:
    # A fact rule (say, a domain registered last week) fires on no offline corpus site, so the
    # fit gives it nothing; its prior still moves the verdict, and the report says so.
    model = JudgeModel("x", {"legitimate": {"page:cart": 1.0}, "rogue": {}, "not_pharmacy": {}},
                       {"legitimate": 0.0, "rogue": 0.0, "not_pharmacy": 0.0}, abstention=Abstention(0.5, 0.25, 0.25))
    feats = {"page:cart": 1.5}
    before = model.decide(feats, set(), [])
    assert before.verdict == Verdict.legitimate
    flag = Finding(rule_id="SYN-FACT-NEW-DOMAIN", criterion="identity", severity=Severity.high,
                   confidence=Confidence.high, weight=-20, message="the domain is days old")
    after = model.decide({**feats, "rule:SYN-FACT-NEW-DOMAIN": 1.0}, set(), [flag])
    assert after.probabilities["rogue"] > before.probabilities["rogue"] + 0.1
    assert after.verdict == Verdict.suspicious  # high red flag beside a shop: no longer legitimate
    shown = {c.feature: c for c in after.contributions}["rule:SYN-FACT-NEW-DOMAIN"]
    assert shown.rule == "SYN-FACT-NEW-DOMAIN" and shown.detail.startswith("prior, not in the fit corpus")
    # The size follows severity: a low rule of the same direction moves it less.
    low = flag.model_copy(update={"severity": Severity.low})
    milder = model.decide({**feats, "rule:SYN-FACT-NEW-DOMAIN": 1.0}, set(), [low])
    assert before.probabilities["rogue"] < milder.probabilities["rogue"] < after.probabilities["rogue"]
    # A seller rule of positive weight says "sells medicines": it pushes away from not_pharmacy.
    seller = Finding(rule_id="SYN-SELLER-LISTED", criterion="seller", severity=Severity.info,
                     confidence=Confidence.high, weight=5, message="listed as a seller")
    listed = model.decide({**feats, "rule:SYN-SELLER-LISTED": 1.0}, set(), [seller])
    assert listed.probabilities["not_pharmacy"] < before.probabilities["not_pharmacy"]
    # Once a fit has weighed the rule, the prior is gone and the fitted weight alone counts.
    model.coef["rogue"]["rule:SYN-FACT-NEW-DOMAIN"] = 0.01
    fitted_now = model.decide({**feats, "rule:SYN-FACT-NEW-DOMAIN": 1.0}, set(), [flag])
    assert fitted_now.probabilities["rogue"] < after.probabilities["rogue"]


def _finding(rule_id: str, severity: Severity, weight: float) -> Finding:
    return Finding(rule_id=rule_id, criterion="prescription", severity=severity, confidence=Confidence.high,
                   weight=weight, message=f"{rule_id} fired")


def test_a_critical_red_flag_vetoes_legitimate() -> None:
    model = JudgeModel("x", {"legitimate": {"page:cart": 3.0}, "rogue": {}, "not_pharmacy": {}},
                       {"legitimate": 0.0, "rogue": 0.0, "not_pharmacy": 0.0}, abstention=Abstention(0.5, 0.2, 0.2))
    feats = {"page:cart": 1.5}
    assert model.decide(feats, set(), []).verdict == Verdict.legitimate
    flagged = model.decide(feats, set(), [_finding("RX-SOLD-WITHOUT", Severity.critical, -40)])
    assert flagged.verdict == Verdict.suspicious
    assert "RX-SOLD-WITHOUT fired" in flagged.reason
    # A positive finding of critical severity is no red flag and vetoes nothing.
    assert model.decide(feats, set(), [_finding("LIC-OK", Severity.critical, 30)]).verdict == Verdict.legitimate


def test_the_model_abstains_when_unsure_or_evidence_conflicts() -> None:
    model = JudgeModel("x", {"legitimate": {"a": 1.0}, "rogue": {"b": 1.0}, "not_pharmacy": {}},
                       {"legitimate": 0.0, "rogue": 0.0, "not_pharmacy": -5.0}, abstention=Abstention(0.6, 0.2, 0.2))
    assert model.decide({"a": 3.0}, set(), []).verdict == Verdict.legitimate
    assert model.decide({"a": 3.0, "b": 2.0}, set(), []).verdict == Verdict.suspicious  # conflict
    assert model.decide({"a": 0.1}, set(), []).verdict == Verdict.suspicious  # unsure


def test_the_fitted_model_judges_new_made_up_sites(fitted: JudgeModel, ruleset: RuleSet, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    import shutil

    shutil.copytree(ruleset.source, rules, ignore=shutil.ignore_patterns("model.yaml"))
    fitted.save(rules / "model.yaml")
    fresh = RuleSet.load(rules)
    new = write_corpus(tmp_path / "new", per_label=7)  # site 7 of each label was never fitted on
    held = {s.host: s for s in load_labelled([new]) if s.host.startswith("garston")}
    from pharmcheck.judge.verdict import judge_site

    for ev in collect(held.values(), fresh):
        j = judge_site(fresh.model, ev.facts, ev.findings, ev.score, fresh.data.lists)
        assert j is not None
        assert j.verdict.value == ev.site.label, (ev.site.host, j.summary)


def test_report_explains_the_verdict_with_deciding_contributions() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pharmcheck", "check", "https://cheap-meds-24.example/", "--format", "json",
         "--replay", str(EXAMPLES / "cheap-meds-24.warc.gz")],
        capture_output=True, text=True, check=False,
    )
    report = json.loads(out.stdout)
    assert report["verdict"] == "rogue"
    assert 0.5 < report["confidence"] <= 1
    top = report["contributions"][0]
    assert top["toward"] == "rogue" and top["weight"] > 0
    # The deciding contributions name the rule evidence, and the summary says it in words.
    features = [c["feature"] for c in report["contributions"]]
    assert any(f.startswith(("rule:RX-", "red_flags:critical")) for f in features)
    deciding = [c["detail"] for c in report["contributions"] if c["weight"] > 0 and c["detail"]]
    assert deciding[0].split(":")[0] in report["summary"]
    text = subprocess.run(
        [sys.executable, "-m", "pharmcheck", "check", "https://cheap-meds-24.example/",
         "--replay", str(EXAMPLES / "cheap-meds-24.warc.gz")],
        capture_output=True, text=True, check=False,
    ).stdout
    assert "decided by:" in text and top["feature"] in text


def test_cross_validation_judges_every_site_once_out_of_fold(corpus: Path, ruleset: RuleSet) -> None:
    evidence = collect(load_labelled([corpus]), ruleset)
    held = cross_validate(evidence, ruleset, folds=3, seed=0, settings=FitSettings(inner_folds=3))
    assert sorted(h.host for h in held) == sorted(ev.site.host for ev in evidence)
    exact = sum(h.verdict == h.label for h in held)
    assert exact >= len(held) - 3  # clean made-up wording: nearly all right out of fold
    assert not [h for h in held if {h.label, h.verdict} == {"legitimate", "rogue"}]


def test_rules_fit_command_writes_a_loadable_model(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.yaml"
    run = subprocess.run([sys.executable, "-m", "pharmcheck", "rules", "fit", str(corpus), "-o", str(out)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "fitted on 18 sites" in run.stderr
    assert JudgeModel.load(out).fitted_on["sites"] == {"legitimate": 6, "rogue": 6, "not_pharmacy": 6}


def test_rules_fit_refuses_a_folder_without_sites(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "pharmcheck", "rules", "fit", str(tmp_path), "-o", str(tmp_path / "m.yaml")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "no <host>/site.json" in run.stderr


def test_too_few_sites_of_a_label_is_a_usage_error(corpus: Path, ruleset: RuleSet) -> None:
    from pharmcheck.errors import UsageError

    examples = examples_from(collect(load_labelled([corpus]), ruleset), ruleset)
    with pytest.raises(UsageError, match="too few: rogue"):
        fit_judge([e for e in examples if e.label != "rogue"][:12] + [e for e in examples if e.label == "rogue"][:2], "x")


def test_a_broken_model_file_is_a_rule_error(tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text("format: 1\nclasses: [legitimate, rogue]\n")
    with pytest.raises(RuleError, match="classes must be"):
        load_model(tmp_path)
    (tmp_path / "model.yaml").write_text("format: 99\n")
    with pytest.raises(RuleError, match="unknown model format"):
        load_model(tmp_path)


def test_shipped_rules_carry_a_model() -> None:
    model = RuleSet.load().model
    assert model is not None and model.text is not None
    assert sum(model.fitted_on["sites"].values()) >= 100


def test_seed_pattern_fabricated_reviews_on_a_drug_article_are_a_red_flag(ruleset: RuleSet, tmp_path: Path) -> None:
    # A seller's drug-information article carrying first-name-and-initial testimonials and a
    # survey "conducted by" a body that runs no surveys (all made up for this test).
    from pharmcheck.check import CheckContext, check_site
    from pharmcheck.fetch import ArchiveIndex
    from pharmcheck.fetch.pagedir import write_warc
    from pharmcheck.models import Status

    host = "https://slumber-tabs.test"
    article = _page("How sleeping tablets work", (
        "Sleeping tablets help adults who cannot sleep. Take one tablet 30 minutes before bed. "
        "A recent survey conducted by the Sleep Wellness Board showed 94% of buyers slept better."
        "</p><p>Customer reviews: great results, I recommend this shop!</p><p>- John S.</p>"
        "<p>Fast delivery, thanks!</p><p>- Amy L."), ["guide/how-sleeping-tablets-work", "faq"])
    faq = _page("FAQ", "We ship your order within 24 hours. Add to cart and pay by card.", ["faq"])
    warc = write_warc(tmp_path / "site.warc.gz", [
        (host + "/", _page("home", "", ["guide/how-sleeping-tablets-work", "faq"]).encode(), "text/html"),
        (host + "/guide/how-sleeping-tablets-work/", article.encode(), "text/html"),
        (host + "/faq/", faq.encode(), "text/html"),
    ])
    report = check_site(host + "/", CheckContext(ruleset=ruleset, archive=ArchiveIndex(warc)))
    reviews = report.criteria["reviews"]
    assert reviews.status == Status.red_flag
    flagged = next(f for f in reviews.findings if f.rule_id == "REV-FABRICATED-TESTIMONIALS")
    quotes = " ".join(e.text for e in flagged.evidence)
    assert "John S." in quotes and "survey conducted by" in quotes


def _judge_made_up_site(ruleset: RuleSet, tmp_path: Path, base: str, pages: dict[str, str]) -> str:
    from pharmcheck.check import CheckContext, check_site
    from pharmcheck.fetch import ArchiveIndex
    from pharmcheck.fetch.pagedir import write_warc

    nav = list(pages)
    records = [(base + "/", _page(base, "", nav).encode(), "text/html")]
    records += [(f"{base}/{path}/", _page(path, text, nav).encode(), "text/html") for path, text in pages.items()]
    warc = write_warc(tmp_path / "site.warc.gz", records)
    return check_site(base + "/", CheckContext(ruleset=ruleset, archive=ArchiveIndex(warc))).verdict.value


def test_the_shipped_model_does_not_take_a_discount_card_service_for_a_seller(ruleset: RuleSet, tmp_path: Path) -> None:
    # A made-up coupon and price-comparison service: pharmacy words everywhere, nothing sold.
    verdict = _judge_made_up_site(ruleset, tmp_path, "https://www.pharmacy-savings-club.test", {
        "how-it-works": "Print your free card and show it at the pharmacy counter when you collect your prescription. "
                        "Our prescription savings card works at most drugstores. This card is not insurance.",
        "prices": "We review and rate online pharmacies. Compare drug prices across licensed pharmacies near you. "
                  "Call us on weekdays with any question about the card.",
    })
    assert verdict == "not_pharmacy"


def test_a_pharmacy_named_host_with_a_thin_page_is_judged_a_seller(ruleset: RuleSet, tmp_path: Path) -> None:
    # A made-up community pharmacy whose only page explains the prescription requirement.
    verdict = _judge_made_up_site(ruleset, tmp_path, "https://www.linden-apotheke-musterstadt.test", {
        "rezeptpflicht": "Die Verschreibungspflicht regelt, welche Arzneimittel nur nach ärztlicher Verordnung "
                         "abgegeben werden. Sie schützt Patienten vor dem falschen Gebrauch starker Wirkstoffe.",
    })
    assert verdict != "not_pharmacy"


def test_the_words_shown_toward_a_class_are_those_of_the_text_models_definition() -> None:
    # top_words computes in numpy what this loop computes word by word: the same words, in
    # the same order (ties by the word), the prefix tokens ("pharma~") shown last resort.
    model = RuleSet.load().model
    assert model is not None and model.text is not None
    text = model.text

    def by_definition(tokens: set[str], toward: str, n: int) -> list[str]:
        scored = []
        for token in tokens:
            i = hashed(token, text.dim)
            lead = text.weights[toward][i] - sum(text.weights[c][i] for c in text.weights) / len(text.weights)
            if lead > 0:
                scored.append((lead, token))
        scored.sort(key=lambda t: (-t[0], t[1]))
        return [t for _, t in scored[:n] if not t.endswith("~")][:n] or [t.rstrip("~") + "…" for _, t in scored[:n]]

    words = sorted(extract_html((EXAMPLES / "sites" / "cheap-meds-24.example" / "index.html").read_text(), "https://x.test/").words)
    for tokens in (set(words), set(words[::7]), {w[:6] + "~" for w in words}, set()):
        for toward in text.weights:
            for n in (1, 6):
                assert text.top_words(tokens, toward, n) == by_definition(tokens, toward, n)
