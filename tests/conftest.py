"""Shared fixtures: the rules, and real local HTTP servers for the made-up example sites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pharmcheck.rules import RuleSet, load_rules
from sitekit import CHEAP_MEDS, NORTHBRIDGE, SiteServer


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return load_rules()


@pytest.fixture
def northbridge_server() -> Iterator[SiteServer]:
    with SiteServer(NORTHBRIDGE) as server:
        yield server


@pytest.fixture
def cheap_meds_server() -> Iterator[SiteServer]:
    with SiteServer(CHEAP_MEDS) as server:
        yield server
