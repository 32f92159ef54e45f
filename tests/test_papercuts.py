"""The smaller things a new user trips over: the resume hint, an unwritable -o, findings written
once, the schema's identity, and a README that says what the code does."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from pathlib import Path

import pytest

from pharmcheck.audit.database import open_store
from pharmcheck.cli import main
from pharmcheck.models import ErrorCode, ExitCode, Report
from pharmcheck.ruleset import RuleSet
from sitekit import EXAMPLES

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
ROGUE = ["check", "https://cheap-meds-24.example/", "--replay", str(EXAMPLES / "cheap-meds-24.warc.gz")]


def test_json_report_carries_each_finding_once_and_reads_back_whole(capsys: pytest.CaptureFixture[str]) -> None:
    main([*ROGUE, "--format", "json"])
    text = capsys.readouterr().out
    data = json.loads(text)
    assert data["findings"], "the example shop has findings"
    assert all("findings" not in c for c in data["criteria"].values())
    assert text.count('"rule_id"') == len(data["findings"])  # version 1 had each twice
    # A reader of the model (export, HTML, the Python API) still gets each criterion's findings.
    report = Report.model_validate_json(text)
    assert sum(len(c.findings) for c in report.criteria.values()) == len(report.findings)
    assert {f.criterion for f in report.criteria["prescription"].findings} == {"prescription"}


def test_schema_has_its_dialect_and_id_and_describes_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == ExitCode.OK
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("https://") and schema["$id"].endswith(".json")
    assert "findings" in schema["properties"]
    assert "findings" not in schema["$defs"]["CriterionResult"]["properties"]  # what is written, not read
    assert {"type": "null"} in schema["properties"]["score"]["anyOf"]


def test_unwritable_output_fails_before_a_run_is_created(tmp_path: Path) -> None:
    listing = tmp_path / "sites.txt"
    listing.write_text("shop.example\n")
    db = tmp_path / "audit.db"
    for output in (tmp_path / "no-such-folder" / "out.jsonl", listing / "out.jsonl", tmp_path):
        err = io.StringIO()
        code = main(["audit", str(listing), "--db", str(db), "-o", str(output)], stderr=err)
        assert code == ExitCode.USAGE and "cannot write" in err.getvalue()
    assert not db.exists()  # no empty run left for --resume to pick up


def test_unreachable_site_has_no_score_in_json_text_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "https://not-captured.example/", "--replay", str(EXAMPLES / "cheap-meds-24.warc.gz")]
    assert main([*args, "--format", "json"]) == ExitCode.UNREACHABLE
    assert json.loads(capsys.readouterr().out)["score"] is None
    assert main(args) == ExitCode.UNREACHABLE
    assert "score: none (not assessed)" in capsys.readouterr().out
    listing = tmp_path / "l.txt"
    listing.write_text("https://not-captured.example/\n")
    main(["audit", str(listing), "--db", str(tmp_path / "a.db"), "--format", "csv", "--replay",
          str(EXAMPLES / "cheap-meds-24.warc.gz"), "--processes", "1"])
    rows = capsys.readouterr().out.splitlines()
    header, row = rows[0].split(","), rows[1].split(",")
    assert row[header.index("verdict")] == "unreachable" and row[header.index("score")] == ""
    stored = sqlite3.connect(tmp_path / "a.db").execute("SELECT verdict, score FROM sites").fetchall()
    assert stored == [("unreachable", None)]


def test_a_version_1_database_loses_the_made_up_score_of_unreachable_sites(tmp_path: Path) -> None:
    from pharmcheck.audit.migrations import MIGRATIONS

    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    for statement in MIGRATIONS[0].sqlite:
        conn.execute(statement)
    conn.execute("INSERT INTO runs VALUES (1, 'l.txt', '/l.txt', '{}', 'pharmcheck', '0.1.0', 'r', 't', NULL, 2)")
    for url, verdict, score in (("https://a.example/", "unreachable", 50), ("https://b.example/", "rogue", 4)):
        conn.execute("INSERT INTO sites VALUES (1, ?, 0, ?, ?, ?, NULL, '{}', 't', 0.1)", (url, url, verdict, score))
    conn.execute("INSERT INTO findings VALUES (1, 'https://b.example/', 'RX-X', 'prescription', 'high', 'high', -5, 'm')")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    open_store(str(db)).close()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT url, score FROM sites ORDER BY url").fetchall() == [
        ("https://a.example/", None), ("https://b.example/", 4)]
    assert conn.execute("SELECT count(*) FROM findings JOIN sites USING (run_id, url)").fetchone() == (1,)


def test_rules_test_counts_in_good_english(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", "RX-NO-PRESCRIPTION"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "(1 rule, " in out and "1 rules" not in out


def test_readme_lists_every_error_kind() -> None:
    section = README.split("**Error kinds**", 1)[1].split("\n\n", 1)[0]
    missing = [code.value for code in ErrorCode if f"`{code.value}`" not in section]
    assert missing == [], f"README's error kinds lack {missing}"


def test_readme_says_how_many_rules_ship() -> None:
    said = re.search(r"(\d+) rules ship", README)
    assert said, "README states the number of rules that ship"
    actual = len(RuleSet.load().rules)
    assert int(said.group(1)) == actual, f"README says {said.group(1)} rules ship; there are {actual}: update README.md"
