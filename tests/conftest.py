"""Shared fixtures: the rules, and real local HTTP servers for the made-up example sites."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from pgkit import PostgresServer, find_bindir
from pharmcheck.language import preload_language_model
from pharmcheck.ruleset import RuleSet
from sitekit import CHEAP_MEDS, NORTHBRIDGE, SiteServer

# Checks read the user's imported register snapshots and refreshed RDAP bootstrap (facts/):
# tests, and the CLIs they start, get empty folders of their own instead.
_USER_FOLDERS = tempfile.mkdtemp(prefix="pharmcheck-tests-")
os.environ["XDG_DATA_HOME"] = os.path.join(_USER_FOLDERS, "data")
os.environ["XDG_CACHE_HOME"] = os.path.join(_USER_FOLDERS, "cache")


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return RuleSet.load()


@pytest.fixture
def rule_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The folders of every `RuleSet.load` in this test's process, in order (the loads still happen)."""
    loads: list[object] = []
    real_load = RuleSet.load.__func__  # type: ignore[attr-defined]

    def counting_load(cls: type[RuleSet], directory: str | os.PathLike[str] | None = None) -> RuleSet:
        loads.append(directory)
        return real_load(cls, directory)  # type: ignore[no-any-return]

    monkeypatch.setattr(RuleSet, "load", classmethod(counting_load))
    return loads


@pytest.fixture(scope="session", autouse=True)
def language_model_loaded() -> None:
    """The language model is loaded once per process (about a second): tests that time the
    analysis of one page measure the page, not that one-time load."""
    preload_language_model()


@pytest.fixture
def northbridge_server() -> Iterator[SiteServer]:
    with SiteServer(NORTHBRIDGE) as server:
        yield server


@pytest.fixture
def cheap_meds_server() -> Iterator[SiteServer]:
    with SiteServer(CHEAP_MEDS) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL server for the session (skipped without the server binaries)."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server = PostgresServer(bindir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database of its own for one test."""
    return postgres_server.new_database()
