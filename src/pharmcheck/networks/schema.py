"""DDL of the network tables (audit migration 2), for both backends: `real` and `blob` are
the backend's names of a float and a byte-string column. Kept apart from networks/store so
that opening a database imports no clustering library."""

from __future__ import annotations

_TABLES = (
    """CREATE TABLE IF NOT EXISTS site_identifiers (
    run_id   INTEGER NOT NULL,
    url      TEXT NOT NULL,            -- the audited site (sites.url)
    kind     TEXT NOT NULL,            -- gtm, phone, email, tls_certificate, ...
    value    TEXT NOT NULL,            -- normalised
    page     TEXT NOT NULL,            -- where it was seen
    evidence TEXT NOT NULL             -- the words around it
)""",
    "CREATE INDEX IF NOT EXISTS site_identifiers_site ON site_identifiers(run_id, url)",
    "CREATE INDEX IF NOT EXISTS site_identifiers_value ON site_identifiers(kind, value)",
    """CREATE TABLE IF NOT EXISTS site_templates (
    run_id    INTEGER NOT NULL,
    url       TEXT NOT NULL,
    signature {blob} NOT NULL,         -- MinHash values, little-endian uint64
    PRIMARY KEY (run_id, url)
)""",
    """CREATE TABLE IF NOT EXISTS networks (
    run_id   INTEGER NOT NULL,
    network  INTEGER NOT NULL,         -- 1 = the largest
    size     INTEGER NOT NULL,
    rogue    INTEGER NOT NULL,         -- members judged rogue on their own
    PRIMARY KEY (run_id, network)
)""",
    """CREATE TABLE IF NOT EXISTS network_members (
    run_id          INTEGER NOT NULL,
    network         INTEGER NOT NULL,
    url             TEXT NOT NULL,
    verdict         TEXT NOT NULL,     -- the site's own verdict
    score           INTEGER,           -- NULL: not assessed (unreachable)
    network_verdict TEXT,              -- with the network finding scored in (NULL: no finding)
    network_score   INTEGER,
    finding         TEXT,              -- the network finding, JSON (NULL: none)
    PRIMARY KEY (run_id, url)
)""",
    """CREATE TABLE IF NOT EXISTS network_edges (
    run_id   INTEGER NOT NULL,
    network  INTEGER NOT NULL,
    a        TEXT NOT NULL,
    b        TEXT NOT NULL,
    weight   {real} NOT NULL,
    reasons  TEXT NOT NULL             -- JSON: a list of reasons (kind, value, weight, reason, evidence)
)""",
    "CREATE INDEX IF NOT EXISTS network_edges_run ON network_edges(run_id, network)",
    """CREATE TABLE IF NOT EXISTS network_commons (
    run_id  INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    value   TEXT NOT NULL,
    sites   INTEGER NOT NULL,
    why     TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS network_runs (
    run_id      INTEGER PRIMARY KEY,   -- the networks of this run are computed
    computed_at TEXT NOT NULL,
    sites       INTEGER NOT NULL
)""",
)


def schema(real: str, blob: str) -> tuple[str, ...]:
    return tuple(t.format(real=real, blob=blob) for t in _TABLES)
