"""Networks of a stored audit run: read the sites' identifiers and templates, cluster,
score the network finding into the members it concerns, store the result."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pharmcheck.models import Confidence, Finding, Severity
from pharmcheck.networks import store
from pharmcheck.networks.cluster import Clustering, find_networks
from pharmcheck.networks.config import NetworkConfig, load_network_config
from pharmcheck.networks.verdict import network_finding, network_verdict
from pharmcheck.score import ScoringConfig

if TYPE_CHECKING:  # the audit store calls into networks/; networks only uses the store it is given
    from pharmcheck.audit.store import Store


def compute(db: Store, run_id: int, rules_dir: str | Path | None, scoring: ScoringConfig,
            config: NetworkConfig | None = None) -> Clustering:
    """Cluster the run's sites and store its networks (replacing earlier ones)."""
    config = config or load_network_config(rules_dir)
    clustering = find_networks(store.site_inputs(db, run_id), config)
    rescored: dict[str, tuple[str, int | None, str]] = {}
    for net in clustering.networks:
        for member in net.members:
            finding = network_finding(net, member.url, config)
            if finding is None:
                continue
            own = [Finding(rule_id=r, criterion=c, severity=Severity(s), confidence=Confidence(conf), weight=w,
                           message=m) for r, c, s, conf, w, m in store.site_findings(db, run_id, member.url)]
            changed = network_verdict(own, member.verdict, finding, scoring)
            verdict, score = changed if changed is not None else (member.verdict, member.score)
            member.network_verdict = verdict
            rescored[member.url] = (verdict, score, json.dumps({
                "rule_id": finding.rule_id, "criterion": finding.criterion, "severity": finding.severity.value,
                "confidence": finding.confidence.value, "weight": finding.weight, "message": finding.message,
                "scored": changed is not None, "references": config.finding.references}))
    store.save(db, run_id, clustering, rescored, datetime.now(timezone.utc).replace(microsecond=0).isoformat())
    return clustering


def networks_of_run(db: Store, run_id: int, rules_dir: str | Path | None, scoring: ScoringConfig,
                    recompute: bool = False) -> dict[str, Any]:
    """The stored networks of a run, computed first if they never were (or `recompute`)."""
    if recompute or not store.is_computed(db, run_id):
        compute(db, run_id, rules_dir, scoring)
    return store.load(db, run_id)
