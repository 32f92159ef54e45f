"""One registry of matcher kinds feeds the rule-file schema, the compiler and the README table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from pharmcheck.rules.compile import compile_matcher
from pharmcheck.rules.data import RuleSetData
from pharmcheck.rules.matchers import MATCHER_KINDS, matcher_table
from pharmcheck.rules.matchers.text import TextC
from pharmcheck.rules.schema import Matcher

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_registered_kind_is_a_rule_file_key() -> None:
    keys = [field.alias or name for name, field in Matcher.model_fields.items()]
    assert keys == list(MATCHER_KINDS)


def test_readme_matcher_table_is_the_registry_table() -> None:
    readme = README.read_text(encoding="utf-8")
    table = re.search(r"^\| kind \| matches \| evidence reported \|\n(?:\|.*\|\n)+", readme, re.M)
    assert table is not None, "README has no matcher table"
    assert table.group(0) == matcher_table(), "README matcher table differs from the registry: paste matcher_table()"


def test_a_matcher_has_exactly_one_registered_key() -> None:
    with pytest.raises(ValidationError, match="exactly one kind"):
        Matcher.model_validate({"text": {"phrases": ["a"]}, "price": {}})
    with pytest.raises(ValidationError):
        Matcher.model_validate({"no_such_kind": {}})
    assert Matcher.model_validate({"not": {"price": {"min": 2}}}).kind == "not"


def test_compiled_through_the_registry() -> None:
    compiled = compile_matcher(Matcher.model_validate({"any": [{"text": {"phrases": ["no prescription"]}}]}), RuleSetData())
    assert isinstance(compiled.parts[0], TextC)  # type: ignore[attr-defined]
