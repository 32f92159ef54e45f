"""Hostile pages against rule regexes: every regex a rule holds runs on RE2 (linear time)
whatever the page contains, and a regex RE2 cannot run is refused when the rules load."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pharmcheck.errors import RuleError
from pharmcheck.fetch.pagedir import write_warc
from pharmcheck.rules.load import default_rules_dir
from pharmcheck.ruleset import RuleSet

SITE = "https://backtrack.example/"
# Exponential on a backtracking engine against a run of x's with no y; linear on RE2.
EVIL = "(x+x+)+y"
RUN = "x" * 34


def rule(match: str, rule_id: str = "SELL-BACKTRACK") -> str:
    return f"""rules:
  - id: {rule_id}
    criterion: seller
    name: A regex that backtracks
    description: Nested quantifiers, exponential on a backtracking engine.
    severity: info
    weight: 1
    confidence: low
    message: backtracks
    match:
      {match}
    references: ["https://example.org/"]
    examples:
      match: ["<a href='https://x.example/xxy'>xxy</a>", "<a href='https://x.example/xy'>xy xxy</a>"]
      no_match: ["nothing here", "quiet page"]
"""


def rules_with(tmp_path: Path, extra: str) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), root)
    (root / "backtrack.yaml").write_text(extra, encoding="utf-8")
    return root


def check_in_child(tmp_path: Path, rules: Path, html: str) -> subprocess.CompletedProcess[str]:
    """`pharmcheck check` of a one-page capture, in a child with a hard time limit: a
    backtracking engine would hold it for hours."""
    warc = write_warc(tmp_path / "site.warc.gz", [(SITE, html.encode(), "text/html; charset=utf-8")])
    return subprocess.run(
        [sys.executable, "-m", "pharmcheck", "check", SITE, "--replay", str(warc), "--rules", str(rules),
         "--format", "json", "--site-timeout", "3"],
        capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("match", [f'text: {{regex: ["{EVIL}"]}}', f'link: {{href: ["{EVIL}"]}}'],
                         ids=["text-regex", "link-href"])
def test_dotted_capital_i_cannot_switch_a_rule_regex_to_backtracking(tmp_path: Path, match: str) -> None:
    # "İ" lower-cases to two characters: that once sent folded regexes to Python's `re`, and
    # link.href regexes always ran there.
    html = (f"<html><head><title>İstanbul eczane</title></head><body><p>İlaç {RUN} {RUN}</p>"
            f"<a href='https://other.example/{RUN}'>{RUN}</a></body></html>")
    out = check_in_child(tmp_path, rules_with(tmp_path, rule(match)), html)
    assert out.returncode in (0, 1), out.stderr
    assert '"verdict"' in out.stdout


def test_regex_re2_cannot_run_is_refused_at_load_naming_the_rule(tmp_path: Path) -> None:
    root = rules_with(tmp_path, rule('text: {regex: ["buy(?!\\\\s+nothing)"]}', "SELL-LOOKAHEAD"))
    with pytest.raises(RuleError, match=r"SELL-LOOKAHEAD: text: regular expression .* cannot run on RE2"):
        RuleSet.load(root)
    out = subprocess.run([sys.executable, "-m", "pharmcheck", "rules", "list", "--rules", str(root)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "backtrack.yaml" in line and "SELL-LOOKAHEAD" in line and "RE2" in line


@pytest.mark.parametrize("kind", ["link: {href", "form: {field", "domain: {regex"])
def test_every_regex_field_is_refused_when_re2_cannot_run_it(tmp_path: Path, kind: str) -> None:
    root = rules_with(tmp_path, rule(f'{kind}: ["(a)\\\\1"]}}', "SELL-BACKREF"))
    with pytest.raises(RuleError, match=r"SELL-BACKREF: .*cannot run on RE2"):
        RuleSet.load(root)


def test_shipped_question_veto_keeps_its_meaning_on_re2() -> None:
    ruleset = RuleSet.load()
    (veto,) = ruleset.data.lists["question"]
    import re2

    question = re2.compile(veto)
    assert question.search("can i buy it without a prescription?")
    assert question.search("without a prescription? call us")
    assert not question.search("no prescription? no problem!")
    assert not question.search("no prescription?  not a problem")
