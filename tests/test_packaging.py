"""The wheel carries the default rules, so `pip install .` works from anywhere."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sitekit import REPO

hatchling = pytest.importorskip("hatchling", reason="hatchling (test extra) builds the wheel offline")


def test_wheel_contains_rules_and_data(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("pharmcheck-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "pharmcheck/_rules/scoring.yaml" in names
    assert "pharmcheck/_rules/data/drugs.yaml" in names
    shipped = {n.split("/")[-1] for n in names if n.startswith("pharmcheck/_rules/") and n.endswith(".yaml")}
    in_repo = {p.name for p in (REPO / "rules").rglob("*.yaml")}
    assert in_repo <= shipped
