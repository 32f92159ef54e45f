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


def test_a_thread_audit_of_several_sites_loads_the_rules_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    loads: list[object] = []
    real_load = RuleSet.load.__func__  # type: ignore[attr-defined]

    def counting_load(cls: type[RuleSet], directory: str | Path | None = None) -> RuleSet:
        loads.append(directory)
        return real_load(cls, directory)  # type: ignore[no-any-return]

    monkeypatch.setattr(RuleSet, "load", classmethod(counting_load))
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
