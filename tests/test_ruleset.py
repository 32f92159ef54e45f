"""The rules folder as one object: `RuleSet.load` is the one loader, and an audit loads once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pharmcheck.cli import main
from pharmcheck.errors import RuleError
from pharmcheck.rules import default_rules_dir
from pharmcheck.ruleset import RuleSet

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SITES = ["https://cheap-meds-24.example/", "https://www.northbridge-pharmacy.example/"]


def test_a_rule_set_owns_scoring_data_drug_index_and_model(ruleset: RuleSet) -> None:
    assert ruleset.version == ruleset.scoring.rules_version
    assert ruleset.criteria == list(ruleset.scoring.criteria)
    assert ruleset.drug_index is ruleset.drug_index  # built once, then the same index
    assert "xanax" in ruleset.drug_index.words
    assert ruleset.model is not None  # the shipped rules carry a fitted judgement
    assert len(ruleset.content_hash) == 16


def test_content_hash_follows_the_files_of_the_folder(tmp_path: Path, ruleset: RuleSet) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    same = RuleSet.load(copy)
    assert same.content_hash == ruleset.content_hash
    scoring = copy / "scoring.yaml"
    scoring.write_text(scoring.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert RuleSet.load(copy).content_hash != ruleset.content_hash


def test_criteria_are_the_ones_scoring_yaml_names(tmp_path: Path) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    scoring = copy / "scoring.yaml"
    text = scoring.read_text(encoding="utf-8")
    # A new criterion is data: one entry in scoring.yaml, no code.
    scoring.write_text(text.replace("criteria:\n", "criteria:\n  hygiene:\n    label: Hygiene\n    scale: 20\n", 1),
                       encoding="utf-8")
    assert "hygiene" in RuleSet.load(copy).criteria
    # A rule scoring a criterion scoring.yaml does not name is refused, naming the file.
    (copy / "extra.yaml").write_text(
        "rules:\n- id: EXTRA-UNKNOWN-CRITERION\n  name: x\n  criterion: astrology\n  severity: low\n  weight: 1\n"
        "  confidence: low\n  description: x\n  references: [https://example.org/]\n"
        "  message: x\n  match: {text: {phrases: [zodiac]}}\n  examples: {match: [zodiac], no_match: [moon]}\n", encoding="utf-8")
    with pytest.raises(RuleError, match=r"extra\.yaml: EXTRA-UNKNOWN-CRITERION: criterion 'astrology' has no entry"):
        RuleSet.load(copy)


def test_a_thread_audit_of_several_sites_loads_the_rules_once(tmp_path: Path, rule_loads: list[object],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    loads = rule_loads
    targets = tmp_path / "sites.txt"
    targets.write_text("\n".join(SITES) + "\n", encoding="utf-8")
    code = main(["audit", str(targets), "--db", str(tmp_path / "a.db"), "--replay", str(EXAMPLES),
                 "--workers", "2", "--processes", "1", "--no-progress", "-o", str(tmp_path / "out.jsonl")])
    assert code == 0
    reports = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["url"] for r in reports) == SITES
    assert {r["verdict"] for r in reports} == {"rogue", "legitimate"}
    assert len(loads) == 1, f"rules loaded {len(loads)} times in one audit"
    # Resuming the (finished) run's list as a new run loads them once more, not twice.
    loads.clear()
    assert main(["audit", str(targets), "--db", str(tmp_path / "a.db"), "--replay", str(EXAMPLES),
                 "--workers", "2", "--processes", "1", "--no-progress", "-o", str(tmp_path / "again.jsonl")]) == 0
    assert len(loads) == 1
    capsys.readouterr()


def _regex_entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("regexes-*"))


def test_a_folder_loaded_again_skips_the_regex_checks_and_judges_alike(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from pharmcheck.rules.compile import _text_leaves
    from pharmcheck.rules.textsearch import LazyRE2

    cache = tmp_path / "cache"
    monkeypatch.setenv("PHARMCHECK_CACHE_DIR", str(cache))
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))

    def lazy_regexes(ruleset: RuleSet) -> int:
        return sum(isinstance(p, LazyRE2) for cr in ruleset.rules for leaf in _text_leaves(cr.matcher)
                   for p, _ in leaf.patterns.folded + leaf.patterns.cased)

    assert lazy_regexes(RuleSet.load(copy)) == 0  # first load: every regex checked and compiled
    assert len(_regex_entries(cache)) == 1
    assert lazy_regexes(RuleSet.load(copy)) > 100  # the same folder again: trusted, compiled on use
    # Every rule's examples still match and miss as written, on the lazily compiled regexes.
    assert main(["rules", "test", "--rules", str(copy)]) == 0
    assert ", 0 failed" in capsys.readouterr().out


def test_an_edited_folder_has_its_new_regex_checked_and_a_corrupt_entry_is_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PHARMCHECK_CACHE_DIR", str(cache))
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    RuleSet.load(copy)
    (entry,) = _regex_entries(cache)
    (entry / "regexes.marshal").write_bytes(b"\x00not marshal")
    assert RuleSet.load(copy).get("RX-NO-PRESCRIPTION") is not None  # a corrupt entry: checked again, rewritten
    assert _regex_entries(cache) == [entry] and (entry / "regexes.marshal").read_bytes() != b"\x00not marshal"
    (copy / "extra.yaml").write_text(
        "rules:\n- id: EXTRA-LOOKAHEAD\n  name: x\n  criterion: seller\n  severity: low\n  weight: 1\n"
        "  confidence: low\n  description: x\n  references: [https://example.org/]\n"
        "  message: x\n  match: {text: {regex: ['buy(?!\\s+nothing)']}}\n  examples: {match: [buy], no_match: [sell]}\n",
        encoding="utf-8")
    with pytest.raises(RuleError, match=r"EXTRA-LOOKAHEAD: text: regular expression .* cannot run on RE2"):
        RuleSet.load(copy)
    assert _regex_entries(cache) == [entry]  # a folder that does not load leaves no entry
