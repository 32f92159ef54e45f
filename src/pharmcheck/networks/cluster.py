"""Sites of one audit linked into networks: shared identifiers and near-identical templates.

A graph whose nodes are the audited sites; an edge says why two sites look like
one operator's ("same GTM-5XK2", "template 0.93 similar"), each reason weighted by
`rules/data/networks.yaml`, combined as 1 - prod(1 - w). Sites are linked when an edge
reaches `min_edge_weight`, so weak reasons (a shared IP, a link to the same third shop) link
only together with something else. Networks are the connected components.

Commons never link: an identifier listed in `network_commons`, or shared by more sites than
the cut-off (a CDN certificate, a theme's demo analytics ID), is reported and ignored; so is
a template that more sites than the cut-off share (a popular theme). Commons are also learned
from the audit database: an identifier its runs together saw on more than `commons_min_sites`
sites links nobody, even in a run that holds only a few of them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from pharmcheck.extract.template import NUM_PERM
from pharmcheck.networks.config import NetworkConfig
from pharmcheck.networks.lsh import BandedIndex

# An identifier shared by more sites than this links them as a star around the first one
# (as connected as all pairs, with linear edges): a 300-site network stays 300 edges.
_ALL_PAIRS_MAX = 12
_TEMPLATE_NEIGHBOURS = 4  # template edges kept per site (its most similar sites)


@dataclass(frozen=True)
class SiteInput:
    """What clustering needs of one audited site."""

    url: str
    domain: str
    verdict: str
    score: int | None  # None: not assessed (unreachable)
    identifiers: list[tuple[str, str, str, str]]  # kind, value, page, evidence text
    template: np.ndarray | None = None  # MinHash values, NUM_PERM uint64


@dataclass
class Reason:
    kind: str  # an identifier kind, "template" or "links_to"
    value: str  # the shared value; for a template, the similarity
    weight: float
    evidence: list[dict[str, str]] = field(default_factory=list)  # [{url, text}] on each side

    def describe(self) -> str:
        if self.kind == "template":
            return f"template {self.value} similar"
        if self.kind == "links_to":
            return f"links to {self.value}"
        return f"same {self.kind.replace('_', ' ')} {self.value}"


@dataclass
class Edge:
    a: str
    b: str
    reasons: list[Reason]

    @property
    def weight(self) -> float:
        return round(1 - math.prod(1 - min(r.weight, 0.999) for r in self.reasons), 3)


@dataclass
class Member:
    url: str
    verdict: str
    score: int | None
    network_verdict: str = ""  # the verdict with the network finding scored in ('' = unchanged)


@dataclass
class Network:
    id: int
    members: list[Member]
    edges: list[Edge]

    @property
    def rogue(self) -> int:
        return sum(1 for m in self.members if m.verdict == "rogue")

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class Common:
    kind: str
    value: str
    sites: int
    why: str  # "listed", "shared by N sites" or "seen on N sites across the database's runs"


@dataclass
class Clustering:
    networks: list[Network]
    commons: list[Common]
    sites: int


def find_networks(sites: list[SiteInput], config: NetworkConfig,
                  learned: Mapping[tuple[str, str], int] | None = None) -> Clustering:
    """`learned`: identifiers the audit database has seen on more than `commons_min_sites`
    sites across its runs (networks/store.seen_across_runs), with that count: commons too."""
    cutoff = config.commons_cutoff(len(sites))
    learned = learned or {}
    edges: dict[tuple[int, int], list[Reason]] = defaultdict(list)
    commons: list[Common] = []
    by_value: dict[tuple[str, str], list[int]] = defaultdict(list)
    evidence: dict[tuple[int, str, str], dict[str, str]] = {}
    for i, site in enumerate(sites):
        for kind, value, page, text in site.identifiers:
            key = (kind, value)
            if key in by_value and by_value[key][-1] == i:
                continue
            by_value[key].append(i)
            evidence[(i, kind, value)] = {"url": page, "text": text}
    domains = {site.domain: i for i, site in enumerate(sites) if site.domain}
    for (kind, value), members in by_value.items():
        if kind == "outbound_pharmacy" and value in domains:
            target = domains[value]
            for i in members:
                if i != target:
                    edges[_pair(i, target)].append(Reason("links_to", value, config.weight("links_to"),
                                                          [evidence[(i, kind, value)]]))
        if len(members) < 2:
            continue
        if config.is_listed_common(kind, value):
            commons.append(Common(kind, value, len(members), "listed"))
            continue
        if len(members) > cutoff:
            commons.append(Common(kind, value, len(members), f"shared by {len(members)} sites"))
            continue
        if key_seen := learned.get((kind, value)):
            commons.append(Common(kind, value, len(members), f"seen on {key_seen} sites across the database's runs"))
            continue
        weight = config.weight(kind)
        for i, j in _links(members):
            edges[_pair(i, j)].append(Reason(kind, value, weight,
                                             [evidence[(i, kind, value)], evidence[(j, kind, value)]]))
    _template_edges(sites, config, cutoff, edges, commons)

    components = _Components(len(sites))
    kept: dict[tuple[int, int], Edge] = {}
    for (i, j), reasons in edges.items():
        edge = Edge(sites[i].url, sites[j].url, sorted(reasons, key=lambda r: -r.weight))
        if edge.weight >= config.min_edge_weight:
            kept[(i, j)] = edge
            components.join(i, j)
    members_of: dict[int, list[int]] = defaultdict(list)
    for k in range(len(sites)):
        members_of[components.root(k)].append(k)  # in index order: each list is sorted
    edges_of: dict[int, list[Edge]] = defaultdict(list)
    for (i, _j), edge in kept.items():
        edges_of[components.root(i)].append(edge)
    grouped = sorted((root for root, members in members_of.items() if len(members) > 1),
                     key=lambda root: (-len(members_of[root]), sites[members_of[root][0]].url))
    networks = []
    for number, root in enumerate(grouped, start=1):
        network_members = [Member(sites[k].url, sites[k].verdict, sites[k].score) for k in members_of[root]]
        component_edges = sorted(edges_of[root], key=lambda e: (-e.weight, e.a, e.b))
        networks.append(Network(number, network_members, component_edges))
    commons.sort(key=lambda c: (-c.sites, c.kind, c.value))
    return Clustering(networks, commons, len(sites))


class _Components:
    """Connected components of sites 0..n-1 as edges are added (union-find): all that
    clustering asked of a graph library, whose import alone took 0.18 s of every audit."""

    def __init__(self, n: int) -> None:
        self._parent = list(range(n))

    def root(self, i: int) -> int:
        parent = self._parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # halve the path as we go
            i = parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        self._parent[self.root(i)] = self.root(j)


def _pair(i: int, j: int) -> tuple[int, int]:
    return (i, j) if i < j else (j, i)


def _links(members: list[int]) -> Iterable[tuple[int, int]]:
    if len(members) <= _ALL_PAIRS_MAX:
        return ((members[a], members[b]) for a in range(len(members)) for b in range(a + 1, len(members)))
    return ((members[0], other) for other in members[1:])


def _template_edges(sites: list[SiteInput], config: NetworkConfig, cutoff: int,
                    edges: dict[tuple[int, int], list[Reason]], commons: list[Common]) -> None:
    indexed = [i for i, site in enumerate(sites) if site.template is not None and len(site.template) == NUM_PERM]
    if len(indexed) < 2:
        return
    # LSH finds candidates at a lower similarity than the threshold (its banding misses some
    # pairs just above its own threshold); each candidate's estimate then decides.
    lsh = BandedIndex(threshold=max(0.5, config.template_threshold - 0.2), num_perm=NUM_PERM)
    matrix = np.stack([sites[i].template for i in indexed])  # type: ignore[misc]
    row_of = {i: r for r, i in enumerate(indexed)}
    for i in indexed:
        lsh.insert(i, matrix[row_of[i]])
    common_templates = 0
    linked: set[tuple[int, int]] = set()
    for i in indexed:
        candidates = [j for j in lsh.query(matrix[row_of[i]]) if j != i]
        if not candidates:
            continue
        if len(candidates) > cutoff:
            common_templates += 1
            continue
        rows = matrix[[row_of[j] for j in candidates]]
        similar = (rows == matrix[row_of[i]]).sum(axis=1) / NUM_PERM
        # Each site keeps its few most similar: a 300-site template family stays connected
        # with ~4 edges a site instead of 45,000 pairs.
        best = sorted((float(sim), j) for j, sim in zip(candidates, similar, strict=True)
                      if sim >= config.template_threshold)[-_TEMPLATE_NEIGHBOURS:]
        for sim, j in best:
            pair = _pair(i, j)
            if pair in linked:
                continue
            linked.add(pair)
            a, b = pair
            edges[pair].append(Reason("template", f"{sim:.2f}", sim,
                                      [{"url": sites[a].url, "text": ""}, {"url": sites[b].url, "text": ""}]))
    if common_templates:
        commons.append(Common("template", "one template", common_templates + 1,
                              f"shared by more than {cutoff} sites"))
