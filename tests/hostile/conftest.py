"""Fixtures for the hostile-site tests: one local hostile server per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hostile.hostile_server import HostileServer
from pharmcheck.ruleset import RuleSet


@pytest.fixture(scope="session")
def hostile_server() -> Iterator[HostileServer]:
    srv = HostileServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def server(hostile_server: HostileServer) -> HostileServer:
    hostile_server.robots = "allow"
    hostile_server.hits.clear()
    return hostile_server


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return RuleSet.load()
