"""Hostile rules folders: `@name` lists that expand exponentially or nest without end are
refused at load time with one line naming the list, instead of taking minutes and gigabytes."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pharmcheck.errors import RuleError
from pharmcheck.rules.load import default_rules_dir
from pharmcheck.ruleset import RuleSet

# A rule that uses the last list, so an unbounded loader has to expand it.
BOMB_RULE = """rules:
  - id: SELL-BOMB
    criterion: seller
    name: Uses the bomb list
    description: Names a data list that names another one ten times, nine levels deep.
    severity: info
    weight: 1
    confidence: low
    message: bomb
    match:
      text: {phrases: ["@laugh8"]}
    references: ["https://example.org/"]
    examples:
      match: ["lol", "ha lol"]
      no_match: ["nothing", "quiet"]
"""


def rules_with(tmp_path: Path, data: str, rule: str | None = BOMB_RULE) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), root)
    (root / "data" / "bomb.yaml").write_text(data, encoding="utf-8")
    if rule is not None:
        (root / "bomb.yaml").write_text(rule, encoding="utf-8")
    return root


def laughs(levels: int, fanout: int) -> str:
    lines = ["laugh0: [lol]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f'"@laugh{i - 1}"'] * fanout)
        lines.append(f"laugh{i}: [{refs}]")
    return "\n".join(lines) + "\n"


def _limit_memory() -> None:  # a loader that expands the bomb dies quickly instead of swapping
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_billion_laughs_data_list_is_refused_naming_the_list(tmp_path: Path) -> None:
    root = rules_with(tmp_path, laughs(8, 10))  # 10**8 items once expanded
    out = subprocess.run([sys.executable, "-m", "pharmcheck", "rules", "list", "--rules", str(root)],
                         capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory)
    assert out.returncode == 2, out.stderr[-500:]
    (line,) = out.stderr.strip().splitlines()
    assert "bomb.yaml" in line and "@laugh6 expands" in line and "expands to more than" in line
    assert out.stdout == ""


def test_lists_nested_too_deep_are_refused(tmp_path: Path) -> None:
    root = rules_with(tmp_path, laughs(20, 1), rule=None)  # each names the one before: 20 deep
    with pytest.raises(RuleError, match=r"@laugh\d+ nests other lists more than \d+ deep"):
        RuleSet.load(root)


def test_list_naming_itself_through_others_is_refused(tmp_path: Path) -> None:
    root = rules_with(tmp_path, 'ping: [a, "@pong"]\npong: [b, "@ping"]\n', rule=None)
    with pytest.raises(RuleError, match=r"@ping includes itself \(@ping -> @pong -> @ping\)"):
        RuleSet.load(root)


def test_shipped_lists_that_name_lists_still_load() -> None:
    ruleset = RuleSet.load()
    assert "@advice_context" in ruleset.data.lists["no_prescription_vetoes"]


def test_rule_field_naming_a_big_list_many_times_is_refused(tmp_path: Path) -> None:
    big = "big: [" + ", ".join(f"w{i}" for i in range(60_000)) + "]\n"
    rule = BOMB_RULE.replace('"@laugh8"', ", ".join(['"@big"'] * 4))
    root = rules_with(tmp_path, big, rule)
    with pytest.raises(RuleError, match=r"SELL-BOMB: a list field expands to more than 200,000 items"):
        RuleSet.load(root)
