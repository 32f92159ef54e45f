"""Rules stage: rule files (data) -> compiled matchers -> findings with evidence.

A whole rules folder (rules, scoring, data, model) is loaded as `pharmcheck.ruleset.RuleSet`."""

from pharmcheck.rules.engine import Evaluation, evaluate, evaluate_within
from pharmcheck.rules.load import default_rules_dir

__all__ = ["Evaluation", "default_rules_dir", "evaluate", "evaluate_within"]
