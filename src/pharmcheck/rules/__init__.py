"""Rules stage: rule files (data) -> compiled matchers -> findings with evidence."""

from pharmcheck.rules.engine import evaluate
from pharmcheck.rules.load import RuleSet, default_rules_dir, load_rules

__all__ = ["RuleSet", "default_rules_dir", "evaluate", "load_rules"]
