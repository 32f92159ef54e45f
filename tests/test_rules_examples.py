"""Every rule's own examples run under pytest too (`pharmcheck rules test` runs the same)."""

import pytest

from pharmcheck.ruleset import RuleSet
from pharmcheck.ruletest import run_examples

RESULTS = run_examples(RuleSet.load())


@pytest.mark.parametrize("result", RESULTS, ids=[f"{r.rule_id}-{'match' if r.expected else 'no_match'}-{i}" for i, r in enumerate(RESULTS)])
def test_rule_example(result) -> None:  # type: ignore[no-untyped-def]
    assert result.fired == result.expected, f"{result.rule_id}: {result.example!r}"
