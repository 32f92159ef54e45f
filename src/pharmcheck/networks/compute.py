"""Networks of a stored audit run: read the sites' identifiers and templates, cluster,
score the network finding into the members it concerns, store the result."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pharmcheck.judge.model import JudgeModel, load_model
from pharmcheck.models import Confidence, Finding, NetworkMembership, Report, Severity, Verdict
from pharmcheck.networks import store
from pharmcheck.networks.cluster import Clustering, find_networks
from pharmcheck.networks.config import NetworkConfig, load_network_config
from pharmcheck.networks.verdict import MemberInput, network_finding, network_verdict
from pharmcheck.rules.load import default_rules_dir
from pharmcheck.score import ScoringConfig, score_criteria

if TYPE_CHECKING:  # the audit store calls into networks/; networks only uses the store it is given
    from pharmcheck.audit.store import Store


def compute(db: Store, run_id: int, rules_dir: str | Path | None, scoring: ScoringConfig,
            model: JudgeModel | None, config: NetworkConfig | None = None) -> Clustering:
    """Cluster the run's sites and store its networks (replacing earlier ones). `model`: the
    fitted judgement the network finding is weighed with (None: hand-set scoring)."""
    config = config or load_network_config(rules_dir)
    learned = store.seen_across_runs(db, run_id, config.commons_min_sites)
    clustering = find_networks(store.site_inputs(db, run_id), config, learned)
    rescored: dict[str, tuple[str, int | None, str]] = {}
    for net in clustering.networks:
        for member in net.members:
            finding = network_finding(net, member.url, config)
            if finding is None:
                continue
            stored = store.site_report(db, run_id, member.url)
            if stored is None:
                continue
            changed = network_verdict(
                MemberInput(member.verdict, member.score, stored.findings, stored.probabilities),
                finding, scoring, model, config.finding.log_odds)
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
        compute(db, run_id, rules_dir, scoring, load_model(Path(rules_dir) if rules_dir else default_rules_dir()))
    return store.load(db, run_id)


def with_networks(db: Store, run_id: int, reports: Iterable[Report], scoring: ScoringConfig) -> Iterator[Report]:
    """The run's reports as exported: a member of a computed network gets its `network`
    block, and where the network finding was weighed in, that finding and the network-aware
    verdict and score (its own stay in `network.own_verdict` / `own_score`)."""
    members = store.memberships(db, run_id) if store.is_computed(db, run_id) else {}
    for report in reports:
        member = members.get(report.url)
        if member is None:
            yield report
            continue
        network, size, rogue, nverdict, nscore, finding = member
        rescored = bool(finding and finding.get("scored"))
        update: dict[str, Any] = {"network": NetworkMembership(
            network=network, size=size, rogue=rogue, own_verdict=report.verdict, own_score=report.score,
            rescored=rescored)}
        if rescored and finding is not None and nverdict:
            extra = Finding(rule_id=finding["rule_id"], criterion=finding["criterion"],
                            name="Member of a network of rogue sites", severity=Severity(finding["severity"]),
                            confidence=Confidence(finding["confidence"]), weight=finding["weight"],
                            message=finding["message"])
            findings = [*report.findings, extra]
            criteria = dict(report.criteria)
            if extra.criterion in criteria:
                criteria[extra.criterion] = score_criteria(findings, scoring)[extra.criterion]
            verdict = Verdict(nverdict)
            summary = report.summary if verdict == report.verdict else \
                f"{verdict.value.replace('_', ' ')}: {extra.message} (on its own: {report.summary})"
            update.update(verdict=verdict, score=nscore, summary=summary, findings=findings, criteria=criteria)
        yield report.model_copy(update=update)


def network_verdict_counts(db: Store, run_id: int, counts: Counter[str]) -> Counter[str]:
    """A run's verdict counts with the network-aware verdicts of its rescored members."""
    if not store.is_computed(db, run_id):
        return counts
    out = Counter(counts)
    for _url, own, nverdict in db.query(
            "SELECT url, verdict, network_verdict FROM network_members WHERE run_id = ?"
            " AND network_verdict IS NOT NULL AND network_verdict <> verdict", (run_id,)):
        out[own] -= 1
        out[nverdict] += 1
    return +out
