"""The repository never quotes the labelled corpora (rules and tests in our own words).

A rule written from a site's sentence fits that site, not the class of sites it stands for, and
the corpora are other people's text. benchmarks/corpus_overlap.py finds any passage of ten or
more words shared with a corpus page; this runs it wherever the shared corpus sits beside the
checkout (a clone without it has nothing to compare with)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = next((p / "shared" / "corpus" for p in REPO.parents if (p / "shared" / "corpus" / "train").is_dir()), None)


@pytest.mark.skipif(CORPUS is None, reason="no shared corpus beside this checkout")
def test_no_corpus_passage_is_copied_into_the_repository() -> None:
    assert CORPUS is not None
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "corpus_overlap.py"), str(CORPUS / "dev"), str(CORPUS / "train")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, "corpus text copied into the repository (reword it):\n" + done.stdout


def test_a_copied_passage_is_found(tmp_path: Path) -> None:
    site = tmp_path / "corpus" / "shop.example" / "pages"
    site.mkdir(parents=True)
    # A sentence that exists in this repository (this file), planted in a throw-away corpus.
    planted = "the quick brown heron folds its wings twice before landing on the quay"
    (site / "index.html").write_text(f"<html><body><p>{planted.title()}.</p></body></html>")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "corpus_overlap.py"), str(tmp_path / "corpus")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 1
    assert "tests/test_corpus_overlap.py" in done.stdout and "shop.example" in done.stdout
