"""Rules stage: rule files (data) -> compiled matchers -> findings with evidence."""

from pharmcheck.rules.engine import Evaluation, evaluate, evaluate_within
from pharmcheck.rules.load import RuleSet, default_rules_dir, load_rules

__all__ = ["Evaluation", "RuleSet", "default_rules_dir", "evaluate", "evaluate_within", "load_rules"]
