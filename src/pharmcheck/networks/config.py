"""What links two sites into a network: `rules/data/networks.yaml`, validated."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pharmcheck.errors import RuleError
from pharmcheck.models import Confidence, Severity


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NetworkFindingConfig(_Strict):
    rule_id: str = "NET-ROGUE-NETWORK"
    criterion: str = "identity"
    severity: Severity = Severity.high
    confidence: Confidence = Confidence.medium
    weight: float = Field(-30, lt=0)  # hand-set scoring (no fitted model)
    log_odds: float = Field(1.5, ge=0, le=5)  # fitted judgement: prior on the odds of rogue
    references: list[str] = Field(default_factory=list)


class NetworkConfig(_Strict):
    weights: dict[str, float] = Field(default_factory=dict)
    min_edge_weight: float = Field(0.5, gt=0, le=1)
    template_threshold: float = Field(0.8, gt=0, le=1)
    commons_min_sites: int = Field(200, ge=2)
    commons_fraction: float = Field(0.05, gt=0, le=1)
    finding: NetworkFindingConfig = Field(default_factory=NetworkFindingConfig)
    commons: list[str] = Field(default_factory=list)  # from the `network_commons` list

    def weight(self, kind: str) -> float:
        return self.weights.get(kind, 0.5)

    def commons_cutoff(self, sites: int) -> int:
        """Sites an identifier may be shared by before it counts as common."""
        return max(self.commons_min_sites, int(self.commons_fraction * sites))

    def is_listed_common(self, kind: str, value: str) -> bool:
        for entry in self.commons:
            entry_kind, sep, entry_value = entry.partition(":")
            if not sep or entry_kind not in self.weights:
                entry_kind, entry_value = "", entry
            if entry_kind and entry_kind != kind:
                continue
            if entry_value.endswith("*"):
                if value.lower().startswith(entry_value[:-1].lower()):
                    return True
            elif entry_value.startswith("*."):
                if value.lower().endswith(entry_value[1:].lower()):
                    return True
            elif value.lower() == entry_value.lower():
                return True
        return False


def load_network_config(rules_dir: str | Path | None) -> NetworkConfig:
    """The network settings of a rules folder (defaults when it has no networks.yaml)."""
    from pharmcheck.rules.load import default_rules_dir

    path = Path(rules_dir or default_rules_dir()) / "data" / "networks.yaml"
    if not path.is_file():
        return NetworkConfig()
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError(f"{path}: {exc}") from exc
    if not isinstance(content, dict):
        raise RuleError(f"{path}: a mapping with `network` and `network_commons`")
    try:
        config = NetworkConfig.model_validate({**(content.get("network") or {}),
                                               "commons": content.get("network_commons") or []})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RuleError(f"{path}: network.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc
    return config
