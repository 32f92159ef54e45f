"""Network rows in the audit database: every statement about networks is here, run through
the audit store (SQLite or PostgreSQL; the DDL is migration 2, networks/schema.py).

Written per site as it is stored (its identifiers and template, in the site's own
transaction), and per run once its networks are computed.

    SELECT kind, value, count(*) FROM site_identifiers WHERE run_id = 3 GROUP BY 1, 2 ORDER BY 3 DESC;
    SELECT url, network_verdict FROM network_members WHERE run_id = 3 AND network = 1;
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pharmcheck.models import Report
from pharmcheck.urls import host_of, registrable_domain

if TYPE_CHECKING:
    from pharmcheck.audit.store import Store
    from pharmcheck.networks.cluster import Clustering, SiteInput

_RUN_TABLES = ("site_identifiers", "site_templates", "networks", "network_members", "network_edges",
               "network_commons", "network_runs")
_DERIVED_TABLES = ("networks", "network_members", "network_edges", "network_commons", "network_runs")


def add_site(store: Store, run_id: int, report: Report) -> None:
    """A site's identifiers and template, inside the caller's transaction."""
    store.execute("DELETE FROM site_identifiers WHERE run_id = ? AND url = ?", (run_id, report.url))
    store.execute("DELETE FROM site_templates WHERE run_id = ? AND url = ?", (run_id, report.url))
    if report.identifiers:
        store.execute_many("INSERT INTO site_identifiers (run_id, url, kind, value, page, evidence)"
                           " VALUES (?, ?, ?, ?, ?, ?)",
                           [(run_id, report.url, i.kind, i.value, i.url, i.text) for i in report.identifiers])
    if report.template:
        import numpy as np

        blob = np.asarray(report.template, dtype="<u8").tobytes()
        store.execute("INSERT INTO site_templates (run_id, url, signature) VALUES (?, ?, ?)",
                      (run_id, report.url, blob))


def delete_run(store: Store, run_id: int) -> None:
    for table in _RUN_TABLES:
        store.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))


def site_inputs(store: Store, run_id: int) -> list[SiteInput]:
    """Every stored site of a run, with its identifiers and template (no report is parsed)."""
    import numpy as np

    from pharmcheck.networks.cluster import SiteInput

    identifiers: dict[str, list[tuple[str, str, str, str]]] = {}
    for url, kind, value, page, evidence in store.query(
            "SELECT url, kind, value, page, evidence FROM site_identifiers WHERE run_id = ?", (run_id,)):
        identifiers.setdefault(url, []).append((kind, value, page, evidence))
    templates = {url: np.frombuffer(bytes(blob), dtype="<u8").astype(np.uint64)
                 for url, blob in store.query("SELECT url, signature FROM site_templates WHERE run_id = ?", (run_id,))}
    return [SiteInput(url=url, domain=registrable_domain(host_of(final_url or url)), verdict=verdict, score=score,
                      identifiers=identifiers.get(url, []), template=templates.get(url))
            for url, final_url, verdict, score in store.query(
                "SELECT url, final_url, verdict, score FROM sites WHERE run_id = ? ORDER BY position, url", (run_id,))]


def is_computed(store: Store, run_id: int) -> bool:
    return bool(store.query("SELECT 1 FROM network_runs WHERE run_id = ?", (run_id,)))


def save(store: Store, run_id: int, clustering: Clustering, rescored: dict[str, tuple[str, int | None, str]],
         computed_at: str) -> None:
    """Store a run's networks (replacing earlier ones), in one transaction.
    `rescored`: url -> (network verdict, network score, finding JSON)."""
    with store.transaction():
        for table in _DERIVED_TABLES:
            store.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
        for net in clustering.networks:
            store.execute("INSERT INTO networks (run_id, network, size, rogue) VALUES (?, ?, ?, ?)",
                          (run_id, net.id, net.size, net.rogue))
            store.execute_many(
                "INSERT INTO network_members (run_id, network, url, verdict, score, network_verdict, network_score,"
                " finding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, net.id, m.url, m.verdict, m.score, *(rescored.get(m.url) or (None, None, None)))
                 for m in net.members])
            store.execute_many(
                "INSERT INTO network_edges (run_id, network, a, b, weight, reasons) VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, net.id, e.a, e.b, e.weight, json.dumps([
                    {"kind": r.kind, "value": r.value, "weight": r.weight, "reason": r.describe(),
                     "evidence": r.evidence} for r in e.reasons]))
                 for e in net.edges])
        if clustering.commons:
            store.execute_many("INSERT INTO network_commons (run_id, kind, value, sites, why) VALUES (?, ?, ?, ?, ?)",
                               [(run_id, c.kind, c.value, c.sites, c.why) for c in clustering.commons])
        store.execute("INSERT INTO network_runs (run_id, computed_at, sites) VALUES (?, ?, ?)",
                      (run_id, computed_at, clustering.sites))


def load(store: Store, run_id: int) -> dict[str, Any]:
    """A run's stored networks as plain data (the JSON of `audit networks`)."""
    done = store.query("SELECT computed_at, sites FROM network_runs WHERE run_id = ?", (run_id,))
    members: dict[int, list[dict[str, Any]]] = {}
    for network, url, verdict, score, nverdict, nscore, finding in store.query(
            "SELECT network, url, verdict, score, network_verdict, network_score, finding FROM network_members"
            " WHERE run_id = ? ORDER BY network, url", (run_id,)):
        members.setdefault(network, []).append({
            "url": url, "verdict": verdict, "score": score, "network_verdict": nverdict or verdict,
            "network_score": score if nscore is None else nscore,
            "finding": json.loads(finding) if finding else None})
    edges: dict[int, list[dict[str, Any]]] = {}
    for network, a, b, weight, reasons in store.query(
            "SELECT network, a, b, weight, reasons FROM network_edges WHERE run_id = ?"
            " ORDER BY network, weight DESC, a, b", (run_id,)):
        edges.setdefault(network, []).append({"a": a, "b": b, "weight": weight, "reasons": json.loads(reasons)})
    networks = [{"network": network, "size": size, "rogue": rogue, "members": members.get(network, []),
                 "edges": edges.get(network, [])}
                for network, size, rogue in store.query(
                    "SELECT network, size, rogue FROM networks WHERE run_id = ? ORDER BY network", (run_id,))]
    commons = [{"kind": k, "value": v, "sites": n, "why": why} for k, v, n, why in store.query(
        "SELECT kind, value, sites, why FROM network_commons WHERE run_id = ? ORDER BY sites DESC, kind, value",
        (run_id,))]
    return {"run": run_id, "computed_at": done[0][0] if done else None, "sites": done[0][1] if done else 0,
            "networks": networks, "commons": commons}


def site_findings(store: Store, run_id: int, url: str) -> list[tuple[Any, ...]]:
    return store.query("SELECT rule_id, criterion, severity, confidence, weight, message FROM findings"
                       " WHERE run_id = ? AND url = ?", (run_id, url))


def site_report(store: Store, run_id: int, url: str) -> Report | None:
    """One stored report (None when the row is gone or unreadable: it is then not judged again)."""
    from pydantic import ValidationError

    rows = store.query("SELECT report FROM sites WHERE run_id = ? AND url = ?", (run_id, url))
    if not rows:
        return None
    stored = rows[0][0]
    try:
        text = bytes(stored).decode("utf-8") if isinstance(stored, (bytes, memoryview)) else str(stored)
        return Report.model_validate_json(text)
    except (UnicodeDecodeError, ValidationError):
        return None


def memberships(store: Store, run_id: int) -> dict[str, tuple[int, int, int, str | None, int | None, dict[str, Any] | None]]:
    """url -> (network, size, rogue, network verdict, network score, finding) for a computed run."""
    rows = store.query(
        "SELECT m.url, m.network, n.size, n.rogue, m.network_verdict, m.network_score, m.finding"
        " FROM network_members m JOIN networks n ON n.run_id = m.run_id AND n.network = m.network"
        " WHERE m.run_id = ?", (run_id,))
    return {url: (network, size, rogue, nverdict, nscore, json.loads(finding) if finding else None)
            for url, network, size, rogue, nverdict, nscore, finding in rows}


def seen_across_runs(store: Store, run_id: int, more_than: int) -> dict[tuple[str, str], int]:
    """Identifiers of run `run_id` that the database's runs together saw on more than
    `more_than` distinct sites: what a team's weekly audits learn are commons (a theme's tag,
    a host's certificate) even when one run holds only a few of those sites. Empty when no
    other run holds identifiers (one run alone teaches nothing beyond its own cutoff)."""
    if not store.query("SELECT 1 FROM site_identifiers WHERE run_id <> ? LIMIT 1", (run_id,)):
        return {}
    rows = store.query(
        "SELECT o.kind, o.value, COUNT(DISTINCT o.url) FROM"
        " (SELECT DISTINCT kind, value FROM site_identifiers WHERE run_id = ?) i"
        " JOIN site_identifiers o ON o.kind = i.kind AND o.value = i.value"
        " GROUP BY o.kind, o.value HAVING COUNT(DISTINCT o.url) > ?", (run_id, more_than))
    return {(kind, value): int(n) for kind, value, n in rows}
