"""Network tables of the audit database: every SQL statement about networks is here.

Written per site as it is stored (its identifiers and template, in the site's own
transaction), and per run once its networks are computed. Plain DB-API calls on a
connection the audit store owns.

    SELECT kind, value, count(*) FROM site_identifiers WHERE run_id = 3 GROUP BY 1, 2 ORDER BY 3 DESC;
    SELECT url, network_verdict FROM network_members WHERE run_id = 3 AND network = 1;
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import numpy as np

from pharmcheck.models import Report
from pharmcheck.networks.cluster import Clustering, SiteInput
from pharmcheck.urls import host_of, registrable_domain

SCHEMA = """
CREATE TABLE IF NOT EXISTS site_identifiers (
    run_id   INTEGER NOT NULL,
    url      TEXT NOT NULL,            -- the audited site (sites.url)
    kind     TEXT NOT NULL,            -- gtm, phone, email, tls_certificate, ...
    value    TEXT NOT NULL,            -- normalised
    page     TEXT NOT NULL,            -- where it was seen
    evidence TEXT NOT NULL             -- the words around it
);
CREATE INDEX IF NOT EXISTS site_identifiers_site ON site_identifiers(run_id, url);
CREATE INDEX IF NOT EXISTS site_identifiers_value ON site_identifiers(kind, value);
CREATE TABLE IF NOT EXISTS site_templates (
    run_id    INTEGER NOT NULL,
    url       TEXT NOT NULL,
    signature BLOB NOT NULL,           -- MinHash values, little-endian uint64
    PRIMARY KEY (run_id, url)
);
CREATE TABLE IF NOT EXISTS networks (
    run_id      INTEGER NOT NULL,
    network     INTEGER NOT NULL,      -- 1 = the largest
    size        INTEGER NOT NULL,
    rogue       INTEGER NOT NULL,      -- members judged rogue on their own
    PRIMARY KEY (run_id, network)
);
CREATE TABLE IF NOT EXISTS network_members (
    run_id          INTEGER NOT NULL,
    network         INTEGER NOT NULL,
    url             TEXT NOT NULL,
    verdict         TEXT NOT NULL,     -- the site's own verdict
    score           INTEGER NOT NULL,
    network_verdict TEXT,              -- with the network finding scored in (NULL: unchanged)
    network_score   INTEGER,
    finding         TEXT,              -- the network finding, JSON (NULL: none)
    PRIMARY KEY (run_id, url)
);
CREATE TABLE IF NOT EXISTS network_edges (
    run_id   INTEGER NOT NULL,
    network  INTEGER NOT NULL,
    a        TEXT NOT NULL,
    b        TEXT NOT NULL,
    weight   REAL NOT NULL,
    reasons  TEXT NOT NULL             -- JSON: [{kind, value, weight, evidence: [{url, text}]}]
);
CREATE INDEX IF NOT EXISTS network_edges_run ON network_edges(run_id, network);
CREATE TABLE IF NOT EXISTS network_commons (
    run_id  INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    value   TEXT NOT NULL,
    sites   INTEGER NOT NULL,
    why     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS network_runs (
    run_id      INTEGER PRIMARY KEY,   -- networks of this run are computed
    computed_at TEXT NOT NULL,
    sites       INTEGER NOT NULL
);
"""

_RUN_TABLES = ("site_identifiers", "site_templates", "networks", "network_members", "network_edges",
               "network_commons", "network_runs")
_DERIVED_TABLES = ("networks", "network_members", "network_edges", "network_commons", "network_runs")


def create(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def add_site(db: sqlite3.Connection, run_id: int, report: Report) -> None:
    """A site's identifiers and template, inside the caller's transaction."""
    db.execute("DELETE FROM site_identifiers WHERE run_id = ? AND url = ?", (run_id, report.url))
    db.executemany("INSERT INTO site_identifiers VALUES (?, ?, ?, ?, ?, ?)",
                   [(run_id, report.url, i.kind, i.value, i.url, i.text) for i in report.identifiers])
    if report.template:
        blob = np.asarray(report.template, dtype="<u8").tobytes()
        db.execute("INSERT OR REPLACE INTO site_templates VALUES (?, ?, ?)", (run_id, report.url, blob))
    else:
        db.execute("DELETE FROM site_templates WHERE run_id = ? AND url = ?", (run_id, report.url))


def delete_run(db: sqlite3.Connection, run_id: int) -> None:
    for table in _RUN_TABLES:
        db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))


def site_inputs(db: sqlite3.Connection, run_id: int) -> list[SiteInput]:
    """Every stored site of a run, with its identifiers and template (no report parsing)."""
    identifiers: dict[str, list[tuple[str, str, str, str]]] = {}
    for url, kind, value, page, evidence in db.execute(
            "SELECT url, kind, value, page, evidence FROM site_identifiers WHERE run_id = ?", (run_id,)):
        identifiers.setdefault(url, []).append((kind, value, page, evidence))
    templates = {url: np.frombuffer(blob, dtype="<u8").astype(np.uint64)
                 for url, blob in db.execute("SELECT url, signature FROM site_templates WHERE run_id = ?", (run_id,))}
    out = []
    for url, final_url, verdict, score in db.execute(
            "SELECT url, final_url, verdict, score FROM sites WHERE run_id = ? ORDER BY position, url", (run_id,)):
        out.append(SiteInput(url=url, domain=registrable_domain(host_of(final_url or url)), verdict=verdict,
                             score=score, identifiers=identifiers.get(url, []), template=templates.get(url)))
    return out


def is_computed(db: sqlite3.Connection, run_id: int) -> bool:
    return db.execute("SELECT 1 FROM network_runs WHERE run_id = ?", (run_id,)).fetchone() is not None


def save(db: sqlite3.Connection, run_id: int, clustering: Clustering, rescored: dict[str, tuple[str, int, str]],
         computed_at: str) -> None:
    """Store a run's networks (replacing earlier ones), in one transaction.
    `rescored`: url -> (network verdict, network score, finding JSON)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for table in _DERIVED_TABLES:
            db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
        for net in clustering.networks:
            db.execute("INSERT INTO networks VALUES (?, ?, ?, ?)", (run_id, net.id, net.size, net.rogue))
            db.executemany("INSERT INTO network_members VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
                (run_id, net.id, m.url, m.verdict, m.score, *(rescored.get(m.url) or (None, None, None)))
                for m in net.members])
            db.executemany("INSERT INTO network_edges VALUES (?, ?, ?, ?, ?, ?)", [
                (run_id, net.id, e.a, e.b, e.weight, json.dumps([
                    {"kind": r.kind, "value": r.value, "weight": r.weight, "reason": r.describe(),
                     "evidence": r.evidence} for r in e.reasons]))
                for e in net.edges])
        db.executemany("INSERT INTO network_commons VALUES (?, ?, ?, ?, ?)",
                       [(run_id, c.kind, c.value, c.sites, c.why) for c in clustering.commons])
        db.execute("INSERT INTO network_runs VALUES (?, ?, ?)", (run_id, computed_at, clustering.sites))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def load(db: sqlite3.Connection, run_id: int) -> dict[str, Any]:
    """A run's stored networks as plain data (the JSON of `audit networks`)."""
    row = db.execute("SELECT computed_at, sites FROM network_runs WHERE run_id = ?", (run_id,)).fetchone()
    members: dict[int, list[dict[str, Any]]] = {}
    for network, url, verdict, score, nverdict, nscore, finding in db.execute(
            "SELECT network, url, verdict, score, network_verdict, network_score, finding FROM network_members"
            " WHERE run_id = ? ORDER BY network, url", (run_id,)):
        members.setdefault(network, []).append({
            "url": url, "verdict": verdict, "score": score, "network_verdict": nverdict or verdict,
            "network_score": score if nscore is None else nscore,
            "finding": json.loads(finding) if finding else None})
    edges: dict[int, list[dict[str, Any]]] = {}
    for network, a, b, weight, reasons in db.execute(
            "SELECT network, a, b, weight, reasons FROM network_edges WHERE run_id = ? ORDER BY network, weight DESC, a, b",
            (run_id,)):
        edges.setdefault(network, []).append({"a": a, "b": b, "weight": weight, "reasons": json.loads(reasons)})
    networks = [{"network": network, "size": size, "rogue": rogue, "members": members.get(network, []),
                 "edges": edges.get(network, [])}
                for network, size, rogue in db.execute(
                    "SELECT network, size, rogue FROM networks WHERE run_id = ? ORDER BY network", (run_id,))]
    commons = [{"kind": k, "value": v, "sites": n, "why": why} for k, v, n, why in db.execute(
        "SELECT kind, value, sites, why FROM network_commons WHERE run_id = ? ORDER BY sites DESC, kind, value",
        (run_id,))]
    return {"run": run_id, "computed_at": row[0] if row else None, "sites": row[1] if row else 0,
            "networks": networks, "commons": commons}


def site_findings(db: sqlite3.Connection, run_id: int, url: str) -> Iterator[tuple[Any, ...]]:
    return iter(db.execute("SELECT rule_id, criterion, severity, confidence, weight, message FROM findings"
                           " WHERE run_id = ? AND url = ?", (run_id, url)).fetchall())
