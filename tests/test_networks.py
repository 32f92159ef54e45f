"""Affiliate networks across an audit: three made-up networks on 127.0.0.1 (one GTM container
and phone on new domains; one template with changed names, colours and logos; one shared
TLS certificate) among unrelated sites sharing a CDN, a theme and its demo tag ID."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from netsites import ShopServer, start_all
from pharmcheck.extract import extract_html
from pharmcheck.extract.identifiers import normalise_phone
from pharmcheck.extract.template import site_signature
from pharmcheck.judge.model import CLASSES, Abstention, JudgeModel
from pharmcheck.models import Confidence, Finding, Severity
from pharmcheck.networks.cluster import SiteInput, find_networks
from pharmcheck.networks.config import NetworkConfig, load_network_config
from pharmcheck.networks.store import site_inputs as store_inputs
from pharmcheck.networks.verdict import MemberInput, network_finding, network_verdict
from pharmcheck.ruleset import RuleSet
from sitekit import cli, run_cli


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, list[ShopServer]], Path, dict]]:
    folder = tmp_path_factory.mktemp("networks")
    groups, ca, close = start_all(folder)
    try:
        listing = folder / "sites.txt"
        listing.write_text("".join(s.url + "\n" for servers in groups.values() for s in servers))
        db = folder / "audit.db"
        env = {"REQUESTS_CA_BUNDLE": str(ca)}
        done = run_cli("audit", str(listing), "--db", str(db), "--allow-private", "--no-progress", "--processes", "1",
                       "-o", str(folder / "out.jsonl"), env=env)
        assert done.returncode == 0, done.stderr
        assert "3 network(s) of sites" in done.stderr
        shown = run_cli("audit", "networks", "1", "--db", str(db), "--format", "json")
        assert shown.returncode == 0, shown.stderr
        yield groups, db, json.loads(shown.stdout)
    finally:
        close()


def _network_of(data: dict, servers: list[ShopServer]) -> dict:
    urls = {s.url for s in servers}
    found = [n for n in data["networks"] if urls & {m["url"] for m in n["members"]}]
    assert len(found) == 1, f"{urls} spread over {len(found)} networks"
    return found[0]


def test_the_audit_finds_exactly_the_three_networks(audited: tuple) -> None:
    groups, _, data = audited
    assert len(data["networks"]) == 3
    for group in ("gtm_phone", "template", "tls"):
        net = _network_of(data, groups[group])
        assert {m["url"] for m in net["members"]} == {s.url for s in groups[group]}
    members = {m["url"] for n in data["networks"] for m in n["members"]}
    assert not members & {s.url for s in groups["themed"]}, "sites sharing only a theme and a CDN were linked"


def test_each_network_is_linked_by_its_own_evidence(audited: tuple) -> None:
    groups, _, data = audited
    kinds = {}
    for group in ("gtm_phone", "template", "tls"):
        net = _network_of(data, groups[group])
        assert len(net["edges"]) == 3  # three sites, every pair explained
        kinds[group] = {frozenset(r["kind"] for r in e["reasons"]) for e in net["edges"]}
    assert kinds["gtm_phone"] == {frozenset({"gtm", "phone"})}
    assert kinds["template"] == {frozenset({"template"})}
    assert all("tls_certificate" in k and "template" not in k for k in kinds["tls"])
    gtm = _network_of(data, groups["gtm_phone"])
    reasons = {r["reason"] for e in gtm["edges"] for r in e["reasons"]}
    assert reasons == {"same gtm GTM-7QX2KPL", "same phone +442079460321"}
    evidence = gtm["edges"][0]["reasons"][0]["evidence"]
    assert len(evidence) == 2 and all("GTM-7QX2KPL" in e["text"] or "7946" in e["text"] for e in evidence)
    for edge in _network_of(data, groups["template"])["edges"]:
        assert float(edge["reasons"][0]["value"]) >= 0.8


def test_the_theme_demo_tag_is_reported_as_common(audited: tuple) -> None:
    _, _, data = audited
    assert {"kind": "gtm", "value": "GTM-XXXXXXX", "sites": 4, "why": "listed"} in data["commons"]


def test_networks_table_and_json_from_the_store(audited: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    _, db, data = audited
    table = cli(capsys, "audit", "networks", "--db", str(db))
    assert table.returncode == 0, table.stderr
    assert "3 network(s) among 13 sites" in table.stdout
    assert "same gtm GTM-7QX2KPL; same phone +442079460321" in table.stdout
    assert "template 0." in table.stdout
    again = json.loads(cli(capsys, "audit", "networks", "1", "--db", str(db), "--format", "json", "--recompute").stdout)
    assert [n["size"] for n in again["networks"]] == [n["size"] for n in data["networks"]]
    missing = cli(capsys, "audit", "networks", "9", "--db", str(db))
    assert missing.returncode == 2 and "no run 9" in missing.stderr and "Traceback" not in missing.stderr


def test_the_certificate_is_a_site_fact_in_the_report(audited: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    groups, db, _ = audited
    shown = cli(capsys, "export", "--db", str(db), "--format", "jsonl")
    reports = {r["url"]: r for r in map(json.loads, shown.stdout.splitlines())}
    tls_site = reports[groups["tls"][0].url]
    kinds = {i["kind"] for i in tls_site["identifiers"]}
    assert {"tls_certificate", "tls_san"} <= kinds
    sans = {i["value"] for i in tls_site["identifiers"] if i["kind"] == "tls_san"}
    assert sans == {"127.0.7.1", "127.0.7.2", "127.0.7.3"}
    assert not any(i["kind"].startswith("tls") for i in reports[groups["gtm_phone"][0].url]["identifiers"])


# --- units -------------------------------------------------------------------------------------


def test_identifiers_on_a_page_with_their_evidence() -> None:
    html = ("<html><head><script>gtag('config', 'G-4XK29QLP7M'); fbq('init', '2871346620019');</script>"
            "<script src='https://www.googletagmanager.com/gtag/js?id=G-4XK29QLP7M'></script>"
            "<script src='//embed.tawk.to/64a1f0c2b1e2d3c4a5b6c7d8/1h2j3k'></script>"
            "<script>ym(93817265, 'init', {});</script></head><body>"
            "<p>Pay in Bitcoin to bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4, it shows on your statement as "
            "RXG*HEALTHSERV.</p><p>Call 0044 20 7946 0999 or write to Orders@Pill-Hub.test</p>"
            "<a href='https://discount-pharm-club.test/go?aff=5521'>our partner shop</a>"
            "<a href='https://cdn.example.org/x.js'>cdn</a></body></html>")
    facts = extract_html(html, "https://pill-hub.test/")
    found = {(i.kind, i.value) for i in facts.identifiers}
    assert found >= {("google_analytics", "G-4XK29QLP7M"), ("facebook_pixel", "2871346620019"),
                     ("chat_tawk", "64a1f0c2b1e2d3c4a5b6c7d8"), ("yandex_metrika", "93817265"),
                     ("wallet_btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
                     ("merchant_descriptor", "RXG*HEALTHSERV"), ("phone", "+442079460999"),
                     ("email", "orders@pill-hub.test"), ("outbound_pharmacy", "discount-pharm-club.test"),
                     ("affiliate_id", "discount-pharm-club.test:aff=5521")}
    assert not any(v == "example.org" for _, v in found), "a CDN link is no pharmacy link"
    pixel = next(i for i in facts.identifiers if i.kind == "facebook_pixel")
    assert pixel.url == "https://pill-hub.test/" and "fbq('init'" in pixel.text


def test_phone_spellings_of_one_number_are_one_identifier() -> None:
    assert normalise_phone("+44 (20) 7946-0321") == normalise_phone("0044 20 7946 0321") == "+442079460321"


def _site(name: str, verdict: str, *identifiers: tuple[str, str], template: list[int] | None = None) -> SiteInput:
    return SiteInput(url=f"https://{name}.test/", domain=f"{name}.test", verdict=verdict, score=40,
                     identifiers=[(k, v, f"https://{name}.test/", v) for k, v in identifiers],
                     template=np.asarray(template, dtype=np.uint64) if template else None)


def test_an_identifier_shared_beyond_the_cutoff_links_nobody() -> None:
    config = NetworkConfig(weights={"gtm": 0.95}, commons_min_sites=3)
    sites = [_site(f"s{i}", "suspicious", ("gtm", "GTM-SHARED1")) for i in range(5)]
    result = find_networks(sites, config)
    assert result.networks == []
    assert [(c.value, c.sites, c.why) for c in result.commons] == [("GTM-SHARED1", 5, "shared by 5 sites")]
    result = find_networks(sites[:3], config)  # at the cut-off it still links
    assert [n.size for n in result.networks] == [3]


def test_weak_identifiers_link_only_together_with_something_else() -> None:
    config = load_network_config(None)
    pair = [_site("a", "rogue", ("ip_address", "203.0.113.9")), _site("b", "rogue", ("ip_address", "203.0.113.9"))]
    assert find_networks(pair, config).networks == []
    weak = (("ip_address", "203.0.113.9"), ("name_server", "ns1.host.test"), ("outbound_pharmacy", "third-shop.test"))
    assert find_networks([_site("a", "rogue", *weak[:2]), _site("b", "rogue", *weak[:2])], config).networks == []
    pair = [_site("a", "rogue", *weak), _site("b", "rogue", *weak)]
    assert [n.size for n in find_networks(pair, config).networks] == [2]  # 1 - 0.75 x 0.8 x 0.7 = 0.58


def test_a_link_from_one_audited_shop_to_another_links_them() -> None:
    sites = [_site("alpha-pills", "rogue", ("outbound_pharmacy", "beta-meds.test")), _site("beta-meds", "rogue"),
             _site("gamma", "rogue", ("outbound_pharmacy", "elsewhere-rx.test"))]
    nets = find_networks(sites, load_network_config(None)).networks
    assert len(nets) == 1 and {m.url for m in nets[0].members} == {"https://alpha-pills.test/", "https://beta-meds.test/"}
    assert nets[0].edges[0].reasons[0].describe() == "links to beta-meds.test"


def test_templates_link_near_identical_sites_only() -> None:
    page = ("<html><body><div class='top'><ul class='menu'><li><a href='/'>Home</a></li></ul></div>"
            "<div class='body'><h1>Welcome to {name}</h1><p>{text}</p></div></body></html>")
    text = ("Orders leave our dispatch centre within a day and arrive in plain parcels. Customs losses are "
            "reshipped at no cost. Agents answer messages at any hour. Prices include shipping and handling.")
    other = ("Flu jabs on Tuesdays, repeat prescriptions reviewed by our pharmacist, and deliveries to care "
             "homes in the valley. Parking behind the shop, step-free entrance, hearing loop at the counter.")

    def signature(name: str, words: str) -> list[int]:
        return site_signature([extract_html(page.format(name=name, text=words), "https://x.test/").shingles])

    sites = [_site("one", "rogue", template=signature("Pill Palace", text)),
             _site("two", "rogue", template=signature("Tablet Town", text)),
             _site("three", "legitimate", template=signature("Valley Chemist", other))]
    nets = find_networks(sites, load_network_config(None)).networks
    assert [{m.url for m in n.members} for n in nets] == [{"https://one.test/", "https://two.test/"}]
    assert nets[0].edges[0].reasons[0].kind == "template"


def test_the_network_finding_never_overrides_own_legitimacy_evidence() -> None:
    ruleset = RuleSet.load()
    config = load_network_config(None)
    sites = [_site("a", "rogue", ("phone", "+15550100")), _site("b", "rogue", ("phone", "+15550100")),
             _site("c", "suspicious", ("phone", "+15550100")), _site("d", "legitimate", ("phone", "+15550100"))]
    net = find_networks(sites, config).networks[0]
    finding = network_finding(net, "https://c.test/", config)
    assert finding is not None and finding.message == "member of a network of 4 sites, 2 judged rogue"
    assert finding.references if hasattr(finding, "references") else True
    thin = [Finding(rule_id="SELLER-PRICES", criterion="seller", severity=Severity.info, confidence=Confidence.high,
                    weight=10, message="shows prices")]
    verdict = network_verdict(MemberInput("suspicious", 50, thin, {}), finding, ruleset.scoring)
    assert verdict is not None and verdict[0] in ("suspicious", "rogue") and verdict[1] < 50
    assert network_verdict(MemberInput("legitimate", 90, thin, {}), network_finding(net, "https://d.test/", config),
                           ruleset.scoring) is None
    # With the fitted judgement the finding is a prior on the odds of rogue, decided by the
    # model's own rule: a site leaning rogue turns rogue, one with real legitimacy weight stays unsure.
    model = JudgeModel("test", coef={c: {} for c in CLASSES}, intercept={c: 0.0 for c in CLASSES},
                       abstention=Abstention(min_probability=0.5, legitimate_max_rogue=0.2, rogue_max_legitimate=0.1))
    leaning_rogue = {"legitimate": 0.05, "rogue": 0.4, "not_pharmacy": 0.55}
    assert network_verdict(MemberInput("suspicious", 11, thin, leaning_rogue), finding, ruleset.scoring, model,
                           config.finding.log_odds) == ("rogue", 3)
    torn = {"legitimate": 0.45, "rogue": 0.35, "not_pharmacy": 0.2}
    turned = network_verdict(MemberInput("suspicious", 56, thin, torn), finding, ruleset.scoring, model,
                             config.finding.log_odds)
    assert turned is not None and turned[0] == "suspicious" and turned[1] < 56
    assert network_verdict(MemberInput("suspicious", 56, thin, torn), finding, ruleset.scoring, model, 0.0) == \
        ("suspicious", 56)
    lone = find_networks([_site("e", "suspicious", ("phone", "+15550199")), _site("f", "legitimate", ("phone", "+15550199"))],
                         config).networks[0]
    assert network_finding(lone, "https://e.test/", config) is None  # nobody in it was judged rogue


def test_the_html_report_shows_the_networks_with_drill_downs(audited: tuple, capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    groups, db, _ = audited
    out = tmp_path / "run.html"
    assert cli(capsys, "report", "--db", str(db), "-o", str(out)).returncode == 0
    html = out.read_text()
    assert 'id="networks"' in html and html.count('class="card network"') == 3
    assert "same gtm GTM-7QX2KPL; same phone +442079460321" in html
    assert "<svg role=\"img\" aria-label=\"Adjacency of network 1" in html
    # Every member is shown defanged and links to its own drill-down.
    position = [s.url for servers in groups.values() for s in servers].index(groups["tls"][1].url)
    assert f'href="#site-{position}"' in html
    assert "hxxps://127[.]0[.]7[.]2" in html
    assert "https://127.0.7.2" not in html.split('id="networks"')[1].split("</section>")[0]


def test_exports_carry_each_members_network_and_the_network_finding(audited: tuple,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _, db, data = audited
    shown = cli(capsys, "export", "--db", str(db), "--format", "jsonl")
    reports = {r["url"]: r for r in map(json.loads, shown.stdout.splitlines())}
    members = {m["url"]: (n, m) for n in data["networks"] for m in n["members"]}
    assert members and set(members) < set(reports)
    for url, report in reports.items():
        if url not in members:
            assert report["network"] is None
            continue
        net, member = members[url]
        block = report["network"]
        assert (block["network"], block["size"], block["rogue"]) == (net["network"], net["size"], net["rogue"])
        assert block["own_verdict"] == member["verdict"]
        assert report["verdict"] == member["network_verdict"]
        fired = [f["rule_id"] for f in report["findings"]]
        assert ("NET-ROGUE-NETWORK" in fired) == block["rescored"]
    assert any(r["network"] and r["network"]["rescored"] for r in reports.values())


def test_a_site_signature_is_datasketchs_minhash_of_its_shingles() -> None:
    # Stored signatures of earlier runs are compared with new ones: the numpy MinHash must
    # give datasketch's values exactly (affine32 scheme, the same seed and permutations).
    from datasketch import MinHash

    from pharmcheck.extract.template import NUM_PERM, SCHEME, SEED

    rng = np.random.default_rng(5)
    for size in (1, 7, 3000):
        pages = [frozenset(int(v) for v in rng.integers(0, 1 << 32, size, dtype=np.uint64)) for _ in range(2)]
        reference = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=lambda v: v, scheme=SCHEME)
        reference.update_batch(np.fromiter(pages[0] | pages[1], dtype=np.uint64))
        assert site_signature(pages) == [int(v) for v in reference.hashvalues]
    assert site_signature([frozenset()]) == []


def test_the_banded_index_finds_datasketchs_candidates_with_its_parameters() -> None:
    # Template candidates come from our numpy LSH (datasketch's LSH loads scipy, ~0.8 s an
    # audit): the same bands and rows for every threshold the network config allows, and the
    # same candidates on signatures with planted near-copies.
    from datasketch import LeanMinHash, MinHashLSH
    from datasketch.lsh import _optimal_param

    from pharmcheck.extract.template import NUM_PERM, SCHEME, SEED
    from pharmcheck.networks.lsh import BandedIndex, optimal_bands

    for hundredths in range(30, 100, 5):
        assert optimal_bands(hundredths / 100, NUM_PERM) == _optimal_param(hundredths / 100, NUM_PERM, 0.5, 0.5)
    rng = np.random.default_rng(11)
    base = rng.integers(0, 1 << 32, (8, NUM_PERM), dtype=np.uint64)
    signatures = [row.copy() for row in base]
    for row in base:  # near-copies: a share of the values replaced
        for share in (0.1, 0.3, 0.6):
            copy = row.copy()
            at = rng.choice(NUM_PERM, int(share * NUM_PERM), replace=False)
            copy[at] = rng.integers(0, 1 << 32, len(at), dtype=np.uint64)
            signatures.append(copy)
    ours = BandedIndex(threshold=0.6, num_perm=NUM_PERM)
    theirs = MinHashLSH(threshold=0.6, num_perm=NUM_PERM)
    for key, signature in enumerate(signatures):
        ours.insert(key, signature)
        theirs.insert(key, LeanMinHash(seed=SEED, hashvalues=signature, scheme=SCHEME))
    found = 0
    for signature in signatures:
        expected = set(theirs.query(LeanMinHash(seed=SEED, hashvalues=signature, scheme=SCHEME)))
        assert ours.query(signature) == expected
        found += len(expected) > 1
    assert found >= 8  # the near-copies were found, so the comparison meant something


def test_commons_are_learned_from_the_databases_earlier_runs(tmp_path: Path) -> None:
    from pharmcheck.audit.database import open_store
    from pharmcheck.models import Report, SiteIdentifier, ToolInfo, Verdict
    from pharmcheck.networks.compute import compute

    tool = ToolInfo(name="pharmcheck", version="0", rules_version="0")

    def report(url: str, *ids: tuple[str, str]) -> Report:
        return Report(url=url, final_url=url, verdict=Verdict.suspicious, score=40, tool=tool,
                      identifiers=[SiteIdentifier(kind=k, value=v, url=url, text=f"{k} {v}") for k, v in ids])

    db = open_store(str(tmp_path / "audit.db"))
    scoring = RuleSet.load().scoring
    # Run 1: a theme's tag manager ID on 250 unrelated sites (a cut-off of 200 sites).
    earlier = db.start_run("week1.txt", "week1", {}, tool, 250)
    for i in range(250):
        db.add_site(earlier.id, i, report(f"https://shop-{i}.test/", ("gtm", "GTM-THEME99")))
    db.finish_run(earlier.id)
    # Run 2: three sites share that ID only; three others share an operator's ID and phone.
    later = db.start_run("week2.txt", "week2", {}, tool, 6)
    for i in range(3):
        db.add_site(later.id, i, report(f"https://other-{i}.test/", ("gtm", "GTM-THEME99")))
        db.add_site(later.id, 3 + i, report(f"https://operator-{i}.test/", ("gtm", "GTM-OPER4TOR"),
                                             ("phone", "+15550100")))
    db.finish_run(later.id)
    clustering = compute(db, later.id, None, scoring, None)
    assert [sorted(m.url for m in n.members) for n in clustering.networks] == [
        [f"https://operator-{i}.test/" for i in range(3)]]
    learned = [c for c in clustering.commons if c.value == "GTM-THEME99"]
    assert learned and learned[0].why == "seen on 253 sites across the database's runs"
    # Alone, the same three sites would have been a network.
    alone = find_networks(store_inputs(db, later.id), load_network_config(None))
    assert len(alone.networks) == 2
    db.close()


def test_name_servers_and_addresses_come_from_the_site_facts_with_their_evidence(tmp_path: Path) -> None:
    from factkit import DnsServer
    from sitekit import NORTHBRIDGE, SiteServer

    zone = {("corner-shop.example", "A"): ["93.184.216.34", "10.1.2.3"],
            ("corner-shop.example", "NS"): ["ns1.rogue-host.test.", "ns2.rogue-host.test."]}
    with DnsServer(zone) as dns, SiteServer(NORTHBRIDGE) as site:
        port = site.httpd.server_address[1]
        done = run_cli("check", f"http://corner-shop.example:{port}/", "--resolve",
                       f"corner-shop.example:{port}:127.0.0.1", "--allow-private", "--resolver", dns.address,
                       "--rdap-base", "http://127.0.0.1:9/", "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    found = {(i["kind"], i["value"]): i["text"] for i in json.loads(done.stdout)["identifiers"]}
    assert ("name_server", "ns1.rogue-host.test") in found and ("name_server", "ns2.rogue-host.test") in found
    assert "DNS NS record" in found[("name_server", "ns1.rogue-host.test")]
    assert ("ip_address", "93.184.216.34") in found
    assert ("ip_address", "10.1.2.3") not in found  # a private address says nothing about an operator


def test_shared_hosting_alone_links_nobody_but_adds_to_other_evidence() -> None:
    config = load_network_config(None)
    hosting = (("name_server", "ns1.shared-host.test"), ("ip_address", "93.184.216.34"))
    alone = [_site("a", "rogue", *hosting), _site("b", "suspicious", *hosting)]
    assert find_networks(alone, config).networks == []  # 1 - 0.8 x 0.75 = 0.4 < 0.5
    named = ("tls_san", "*.pills-cdn.test")
    together = find_networks([_site("a", "rogue", *hosting, named), _site("b", "suspicious", *hosting, named)],
                             config).networks
    assert len(together) == 1
    kinds = {r.kind for e in together[0].edges for r in e.reasons}
    assert kinds == {"name_server", "ip_address", "tls_san"}
