"""The command line: exit codes, output streams, errors as one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pharmcheck import __version__
from pharmcheck.cli import main
from pharmcheck.models import ExitCode
from sitekit import EXAMPLES, REPO

ROGUE = ["check", "https://cheap-meds-24.example/", "--replay", str(EXAMPLES / "cheap-meds-24.warc.gz")]
LEGIT = ["check", "https://www.northbridge-pharmacy.example/", "--replay", str(EXAMPLES / "northbridge-pharmacy.warc.gz")]


def test_exit_0_when_verdict_is_below_fail_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(LEGIT) == ExitCode.OK
    out = capsys.readouterr().out
    assert "verdict: LEGITIMATE" in out


def test_exit_1_when_verdict_reaches_fail_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(ROGUE) == ExitCode.FAIL_ON
    assert main([*ROGUE, "--fail-on", "suspicious"]) == ExitCode.FAIL_ON
    assert "verdict: ROGUE" in capsys.readouterr().out


def test_exit_2_on_bad_usage_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == ExitCode.USAGE
    assert main(["check", "ftp://x.example/"]) == ExitCode.USAGE
    assert main([*ROGUE, "--max-pages", "zero"]) == ExitCode.USAGE
    assert main(["check", "https://x.example/", "--replay", "/nonexistent.warc.gz"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    for line in err.strip().splitlines():
        assert line.startswith("pharmcheck: error:")
    assert "Traceback" not in err


def test_exit_2_on_invalid_rule_names_file_rule_and_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    bad = rules / "zz-bad.yaml"
    bad.write_text("rules:\n  - id: BAD-RULE\n    criterion: prescription\n    name: x\n    description: x\n"
                   "    severity: extreme\n    weight: -5\n    confidence: high\n    match: {text: {phrases: [x]}}\n"
                   "    references: [x]\n    examples: {match: [x], no_match: [y]}\n")
    assert main([*ROGUE, "--rules", str(rules)]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pharmcheck: error: {bad}: BAD-RULE: severity")
    assert len(err.splitlines()) == 1


def test_exit_3_when_nothing_could_be_assessed(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "https://elsewhere.example/", "--replay", str(EXAMPLES / "cheap-meds-24.warc.gz")]
    assert main(args) == ExitCode.UNREACHABLE
    assert "verdict: UNREACHABLE" in capsys.readouterr().out


def test_json_report_has_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    main([*ROGUE, "--format", "json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout carries only the report
    assert {"url", "final_url", "verdict", "score", "criteria", "findings", "pages", "errors", "tool"} <= set(report)
    assert set(report["tool"]) == {"name", "version", "rules_version"}
    crit = report["criteria"]["prescription"]
    assert {"status", "score"} <= set(crit) and "findings" not in crit  # each finding once, at the top
    finding = report["findings"][0]
    assert {"rule_id", "criterion", "severity", "weight", "message", "evidence"} <= set(finding)
    assert set(finding["evidence"][0]) == {"url", "text"}
    assert set(report["pages"][0]) >= {"url", "status", "content_type", "bytes"}
    assert "rogue" in captured.err  # the one-line summary goes to stderr


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    main([*ROGUE, "--format", "json", "-o", str(out)])
    assert capsys.readouterr().out == ""
    assert json.loads(out.read_text())["verdict"] == "rogue"
    assert main([*ROGUE, "-o", str(tmp_path / "missing-dir" / "r.txt")]) == ExitCode.USAGE


def test_schema_and_rules_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "verdict" in schema["properties"]
    assert main(["rules", "list"]) == 0
    listed = capsys.readouterr().out
    assert "RX-NO-PRESCRIPTION" in listed
    assert "NET-ROGUE-NETWORK" in listed and "(audit networks)" in listed  # the batch-level finding is listed too
    assert main(["rules", "list", "--format", "json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["NET-ROGUE-NETWORK"]["scope"] == "audit" and rows["NET-ROGUE-NETWORK"]["references"]
    assert rows["RX-NO-PRESCRIPTION"]["scope"] == "site"
    assert main(["rules", "test"]) == 0
    assert ", 0 failed" in capsys.readouterr().out


def test_traceback_flag_reraises() -> None:
    with pytest.raises(Exception, match="invalid URL"):
        main(["--traceback", "check", "ftp://x.example/"])


def test_console_script_and_module_entry_points() -> None:
    result = subprocess.run([sys.executable, "-m", "pharmcheck", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == f"pharmcheck {__version__}"
