"""Seals verified at their issuer: for each seal link on the site's pages that points to an
issuer this module can read (data/seal_issuers.yaml), the issuer's own page is fetched and read:
`this_domain` (the issuer lists this very domain), `other_domain` (it lists another one: a copied
seal), `not_listed`, or could not check (a timeout, robots.txt, a page it cannot read: never a
penalty).

Polite: only the issuer's own domains are fetched (through the SSRF guard and --resolve),
robots.txt is obeyed whatever --ignore-robots says, one request at a time per issuer in the
whole process, and each answer is cached per issuer and domain."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import re2

from pharmcheck.facts.interface import FactEnv, FactTarget, Need
from pharmcheck.facts.registry import register
from pharmcheck.fetch.base import Deadline
from pharmcheck.fetch.site import SiteFetcher
from pharmcheck.models import SiteFact
from pharmcheck.urls import host_of, registrable_domain, scheme_of

ISSUERS_FILE = Path(__file__).resolve().parent / "data" / "seal_issuers.yaml"
MAX_SEAL_LINKS = 4  # issuer pages asked per site (a page may link a seal many times)
TTL = 24 * 3600.0
TTL_FAILED = 600.0


@dataclass(frozen=True)
class IssuerParser:
    id: str
    name: str
    domains: frozenset[str]
    listed: tuple[re2._Regexp, ...]
    status: re2._Regexp | None
    not_listed: tuple[str, ...]

    def read(self, html: str) -> tuple[list[str], str, bool]:
        """(domains the page lists, the status it gives, whether it says "not listed")."""
        domains: list[str] = []
        for pattern in self.listed:
            for match in pattern.finditer(html):
                domain = match.group("domain").lower().rstrip(".")
                if domain not in domains:
                    domains.append(domain)
        found = self.status.search(html) if self.status is not None else None
        low = html.lower()
        return domains, (found.group("status").strip().lower() if found else ""), any(p in low for p in self.not_listed)


@lru_cache(maxsize=1)
def issuer_parsers() -> tuple[IssuerParser, ...]:
    import yaml  # here: a check that asks no issuer needs no YAML library

    data = yaml.safe_load(ISSUERS_FILE.read_text(encoding="utf-8"))
    options = re2.Options()
    options.case_sensitive = False
    return tuple(
        IssuerParser(id=str(item["id"]), name=str(item["name"]), domains=frozenset(item["domains"]),
                     listed=tuple(re2.compile(p, options) for p in item["listed"]),
                     status=re2.compile(item["status"], options) if item.get("status") else None,
                     not_listed=tuple(str(p).lower() for p in item.get("not_listed", [])))
        for item in data["issuers"])


class _IssuerTurns:
    """One request at a time per issuer, across every site of the process."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, issuer: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(issuer, threading.Lock())


TURNS = _IssuerTurns()


def seal_links(target: FactTarget) -> list[tuple[IssuerParser, str]]:
    """The site's links to issuer pages this module can read, at most MAX_SEAL_LINKS, one per issuer."""
    found: list[tuple[IssuerParser, str]] = []
    seen: set[str] = set()
    for url in target.links:
        host = host_of(url)
        if scheme_of(url) not in ("http", "https") or not host:
            continue
        domain = registrable_domain(host)
        issuer = next((p for p in issuer_parsers() if domain in p.domains), None)
        if issuer is not None and issuer.id not in seen:
            seen.add(issuer.id)
            found.append((issuer, url))
    return found[:MAX_SEAL_LINKS]


class SealProvider:
    name = "seal"
    needs = Need.url
    live = True

    def gather(self, target: FactTarget, deadline: Deadline, env: FactEnv) -> SiteFact | None:
        links = seal_links(target)
        if not links:
            return None
        domain = target.domain.lower()
        checks = [self._check(issuer, url, domain, deadline, env) for issuer, url in links]
        return SiteFact(provider=self.name, subject=domain, source=", ".join(str(c["url"]) for c in checks),
                        gathered_at=env.now_iso(), data={"checks": checks})

    def _check(self, issuer: IssuerParser, url: str, domain: str, deadline: Deadline, env: FactEnv) -> dict[str, object]:
        key = f"{issuer.id}:{domain}"
        with env.cache.lock(self.name, key):
            cached = env.cache.get(self.name, key)
            if cached is not None:
                return dict(cached.data)
            answer = self._ask(issuer, url, domain, deadline, env)
            env.cache.put(self.name, key, SiteFact(provider=self.name, subject=key, data=answer),
                          TTL if answer["outcome"] != "could_not_check" else TTL_FAILED)
            return answer

    def _ask(self, issuer: IssuerParser, url: str, domain: str, deadline: Deadline, env: FactEnv) -> dict[str, object]:
        base = {"issuer": issuer.id, "issuer_name": issuer.name, "url": url}
        turn = TURNS.lock(issuer.id)
        if not turn.acquire(timeout=max(0.001, deadline.remaining())):
            return {**base, "outcome": "could_not_check", "reason": "the issuer was busy until the site deadline"}
        try:
            # robots.txt of the issuer is obeyed whatever --ignore-robots says: it is not the checked site.
            options = env.options.model_copy(update={"ignore_robots": False, "timeout": env.timeout(deadline),
                                                     "retries": min(env.options.retries, 1)})
            from pharmcheck.fetch.live import LiveTransport  # requests: only when asking an issuer

            fetcher = SiteFetcher(LiveTransport(options, env.limiter), options, url, deadline)
            try:
                resp = fetcher.get(url)
            finally:
                fetcher.close()
        finally:
            turn.release()
        if resp.error is not None and not resp.body:
            return {**base, "outcome": "could_not_check", "reason": f"the issuer's page: {resp.error.message}"}
        if resp.status != 200:
            return {**base, "outcome": "could_not_check", "reason": f"the issuer's page answered HTTP {resp.status}"}
        if registrable_domain(host_of(resp.final_url)) not in issuer.domains:
            return {**base, "outcome": "could_not_check", "reason": f"the issuer's page moved off its site to {resp.final_url}"}
        listed, status, says_not_listed = issuer.read(resp.body.decode("utf-8", errors="replace"))
        own = domain.removeprefix("www.")
        if own in listed:
            return {**base, "outcome": "this_domain", "listed": listed, "status": status}
        if listed:
            return {**base, "outcome": "other_domain", "listed": listed, "status": status}
        if says_not_listed:
            return {**base, "outcome": "not_listed"}
        return {**base, "outcome": "could_not_check", "reason": "the issuer's page could not be read (its layout may have changed)"}


register(SealProvider())
