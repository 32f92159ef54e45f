"""Markdown and SARIF 2.1.0 outputs, and the Python API, as a user of each would meet them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sarif_pydantic
from pydantic import BaseModel
from sarif_pydantic.sarif import Notification

from pharmcheck.report.markdown import render_markdown
from pharmcheck.report.sarif import render_sarif
from sitekit import EXAMPLES

ROGUE_URL = "https://cheap-meds-24.example/"
ROGUE_WARC = EXAMPLES / "cheap-meds-24.warc.gz"
LEGIT_URL = "https://www.northbridge-pharmacy.example/"
LEGIT_WARC = EXAMPLES / "northbridge-pharmacy.warc.gz"


@pytest.fixture(scope="module")
def rogue() -> Any:
    import pharmcheck

    return pharmcheck.check(ROGUE_URL, replay=ROGUE_WARC)


# --- the Python API, through public names only --------------------------------------------


def test_check_returns_the_report_the_cli_prints(rogue: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import pharmcheck

    assert isinstance(rogue, pharmcheck.Report)
    assert rogue.verdict == pharmcheck.Verdict.rogue
    assert any(f.rule_id == "RX-NO-PRESCRIPTION" for f in rogue.findings)
    assert rogue.criteria["prescription"].status == pharmcheck.Status.red_flag
    from pharmcheck.cli import main

    main(["check", ROGUE_URL, "--replay", str(ROGUE_WARC), "--format", "json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["verdict"] == rogue.verdict.value and printed["score"] == rogue.score
    assert [f["rule_id"] for f in printed["findings"]] == [f.rule_id for f in rogue.findings]


def test_check_options_and_errors() -> None:
    import pharmcheck

    one_page = pharmcheck.check(ROGUE_URL, replay=ROGUE_WARC, max_pages=1)
    assert len(one_page.pages) == 1
    with pytest.raises(pharmcheck.UsageError, match="invalid URL"):
        pharmcheck.check("javascript:alert(1)")
    with pytest.raises(pharmcheck.PharmcheckError, match="max_pages"):
        pharmcheck.check(ROGUE_URL, replay=ROGUE_WARC, max_pages=0)
    with pytest.raises(TypeError, match="unknown option"):
        pharmcheck.check(ROGUE_URL, replay=ROGUE_WARC, max_page=3)


def test_audit_returns_reports_in_input_order_each_once(tmp_path: Path) -> None:
    import pharmcheck

    both = tmp_path / "captures"
    both.mkdir()
    for warc in (ROGUE_WARC, LEGIT_WARC):
        (both / warc.name).write_bytes(warc.read_bytes())
    reports = pharmcheck.audit([LEGIT_URL, ROGUE_URL, LEGIT_URL.upper()], replay=both, workers=2)
    assert [r.url for r in reports] == [LEGIT_URL, ROGUE_URL]
    assert [r.verdict for r in reports] == [pharmcheck.Verdict.legitimate, pharmcheck.Verdict.rogue]
    with pytest.raises(pharmcheck.UsageError, match="pharmacy"):
        pharmcheck.audit([ROGUE_URL, "pharmacy"], replay=both)


def test_import_pharmcheck_stays_light() -> None:
    code = ("import sys, pharmcheck; heavy = [m for m in ('pydantic', 'requests', 'bs4', 'lxml', 'pharmcheck.check') "
            "if m in sys.modules]; print(heavy); print(callable(pharmcheck.check) and callable(pharmcheck.audit))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True"


# --- Markdown -------------------------------------------------------------------------------


def test_markdown_report_reads_like_the_text_report(rogue: Any) -> None:
    md = render_markdown(rogue)
    assert md.startswith("## ✕ ROGUE: `hxxps://cheap-meds-24[.]example/` · 0/100")
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert table[0] == "| Criterion | Status | Score |"
    assert "red flag" in table[1]  # red flags first
    assert "`RX-NO-PRESCRIPTION`" in md and "“No prescription needed\\!”" in md


def test_markdown_keeps_site_text_inert(rogue: Any) -> None:
    from pharmcheck.models import Evidence

    evil = rogue.model_copy(deep=True)
    finding = evil.findings[0]
    finding.evidence = [Evidence(url="https://cheap-meds-24.example/x",
                                 text="![pixel](https://track.example/p.gif) <img src=x> **bold** | cell "
                                      "[click](javascript:alert(1)) see www.rogue.example `code`")]
    evil.criteria[finding.criterion].findings = [finding]
    md = render_markdown(evil)
    line = next(line for line in md.splitlines() if "pixel" in line)
    unescaped = re.sub(r"\\.", "", line)  # what is left once backslash-escaped characters are taken out
    for raw in ("![pixel](", "<img", "**bold**", "[click](", "| cell", "`code`"):
        assert raw not in unescaped, raw
    assert "https://track" not in line and "www.rogue" not in line  # bare addresses GitHub would link
    assert "&lt;img src=x&gt;" in line and "hxxps://track[.]example" in line.replace("\\", "")


# --- SARIF 2.1.0 ----------------------------------------------------------------------------


# SARIF 2.1.0 properties that sarif-pydantic 0.6 does not model (it keeps them as extras):
# invocation.toolExecutionNotifications (spec 3.20.21) is checked as Notification objects below.
_UNMODELLED = {"$schema", "toolExecutionNotifications"}


def _unknown_properties(model: BaseModel, path: str = "$") -> list[str]:
    """Keys sarif-pydantic did not recognise as SARIF 2.1.0 properties (it keeps them as
    extras rather than failing; 'properties' bags are free-form by the spec)."""
    found = [f"{path}.{key}" for key in (model.model_extra or {}) if key not in _UNMODELLED]
    for name in type(model).model_fields:
        if name == "properties":
            continue
        value = getattr(model, name)
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, BaseModel):
                found += _unknown_properties(item, f"{path}.{name}[{i}]")
    return found


def test_sarif_output_is_valid_sarif_2_1_0(rogue: Any, capsys: pytest.CaptureFixture[str]) -> None:
    text = render_sarif(rogue)
    log = sarif_pydantic.Sarif.model_validate_json(text)
    assert log.version == "2.1.0" and json.loads(text)["$schema"].endswith("sarif-2.1.0.json")
    assert _unknown_properties(log) == []
    run = log.runs[0]
    assert run.tool.driver.name == "pharmcheck"
    rule_ids = [r.id for r in run.tool.driver.rules or []]
    results = run.results or []
    assert results and {r.rule_id for r in results} <= set(rule_ids)
    assert all(rule_ids[r.rule_index] == r.rule_id for r in results if r.rule_index is not None)
    # Only what counts against the site is a result: a red flag is an error.
    against = {f.rule_id for f in rogue.findings if f.weight < 0}
    assert {r.rule_id for r in results} == against
    first = next(r for r in results if r.rule_id == "RX-NO-PRESCRIPTION")
    assert first.level.value == "error"
    assert first.locations and first.locations[0].physical_location.artifact_location.uri.startswith(ROGUE_URL)
    assert first.locations[0].physical_location.region.snippet.text


def test_sarif_of_an_audit_reports_unreachable_sites_as_notifications(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from pharmcheck.cli import main

    listing = tmp_path / "l.txt"
    listing.write_text(f"{ROGUE_URL}\nhttps://not-captured.example/\n")
    out = tmp_path / "audit.sarif"
    code = main(["audit", str(listing), "--db", str(tmp_path / "a.db"), "--replay", str(ROGUE_WARC),
                 "--format", "sarif", "-o", str(out), "--processes", "1"])
    assert code == 0
    log = sarif_pydantic.Sarif.model_validate_json(out.read_text())
    assert _unknown_properties(log) == []
    run = log.runs[0]
    raw = (run.invocations[0].model_extra or {})["toolExecutionNotifications"]
    notes = [Notification.model_validate(n) for n in raw]
    assert all(_unknown_properties(n) == [] for n in notes)
    assert len(notes) == 1 and "not-captured.example" in (notes[0].message.text or "")
    assert notes[0].level is not None and notes[0].level.value == "warning"
    assert {r.properties["site"] for r in run.results or []} == {ROGUE_URL}
