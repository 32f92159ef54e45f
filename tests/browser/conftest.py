"""Headless Chromium (Debian's /usr/bin/chromium, driven by playwright) and the replayed
audit the browser tests look at."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pharmcheck.models import AuditRun, Report

CHROMIUM = os.environ.get("PHARMCHECK_CHROMIUM", "/usr/bin/chromium")
# No sandbox (CI runs as root in a container), and no background traffic of the browser's own,
# so that any request the tests see comes from the page.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium); browser tests need it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditRun, list[Report]]:
    from replayed_sites import replayed_reports

    return replayed_reports(tmp_path_factory.mktemp("replayed"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
