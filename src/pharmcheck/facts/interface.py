"""What every site-fact provider implements, and what it is given.

A provider establishes one kind of fact about a site beyond its pages (the host name, the
TLS certificate, the domain's registration, DNS...). It says what it needs (the host, the
URL, the certificate the crawl saw), whether it asks the network (`live`: skipped by
`--offline`), and gathers within the site's deadline. Its answer is a `SiteFact` that is
either `ok` or `could_not_check` with a reason: a lookup that failed is never evidence
against the site. A provider that does not apply (no certificate over plain http, an IP
address has no domain) returns None and the report has no such fact.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from pharmcheck.fetch.base import Deadline
from pharmcheck.models import FactOutcome, FetchOptions, SiteFact

if TYPE_CHECKING:  # live.py imports requests: a replayed check looks nothing up
    from pharmcheck.fetch.live import HostLimiter


class Need(str, Enum):
    """What a provider looks at."""

    host = "host"  # the site's host name / registrable domain
    url = "url"  # the site's final URL
    certificate = "certificate"  # the TLS certificate of the final URL


@dataclass(frozen=True)
class FactTarget:
    """The site a provider gathers facts about, as the crawl left it."""

    url: str  # final URL (after redirects)
    host: str
    domain: str  # registrable domain, e.g. example.co.uk ("" for an IP address)
    certificate: bytes = b""  # DER of the certificate the crawl's TLS connection got
    tls_refused: bool = False  # the crawl's TLS handshake failed (self-signed, expired, wrong name...)
    links: tuple[str, ...] = ()  # the pages' links to other sites (where seals point), first seen first


class FactCache(Protocol):
    """Facts kept between sites (and runs: the audit store), keyed per provider and key
    (the registrable domain), each with a time to live."""

    def get(self, provider: str, key: str) -> SiteFact | None: ...

    def put(self, provider: str, key: str, fact: SiteFact, ttl: float) -> None: ...

    def lock(self, provider: str, key: str) -> AbstractContextManager[None]:
        """Held while one site looks a key up, so that concurrent sites of one domain ask once."""
        ...


class MemoryFactCache:
    """The cache of one process: `check`, the Python API, and an audit without a store."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        import time

        self._clock = clock or time.time
        self._facts: dict[tuple[str, str], tuple[float, SiteFact]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, provider: str, key: str) -> SiteFact | None:
        with self._guard:
            entry = self._facts.get((provider, key))
        if entry is None or entry[0] < self._clock():
            return None
        return entry[1]

    def put(self, provider: str, key: str, fact: SiteFact, ttl: float) -> None:
        with self._guard:
            self._facts[(provider, key)] = (self._clock() + ttl, fact)

    @contextmanager
    def lock(self, provider: str, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault((provider, key), threading.Lock())
        with lock:
            yield


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


@dataclass
class FactEnv:
    """What providers may use besides the target: the run's options, the shared cache, the
    per-host connection cap and the clock (tests set it)."""

    options: FetchOptions = field(default_factory=FetchOptions)
    cache: FactCache = field(default_factory=MemoryFactCache)
    limiter: HostLimiter | None = None
    clock: Callable[[], datetime] = utc_now

    def now_iso(self) -> str:
        return self.clock().isoformat()

    def timeout(self, deadline: Deadline) -> float:
        """Seconds one lookup may take: --timeout, within what is left of the site's time."""
        return max(0.001, min(self.options.timeout, deadline.remaining()))


class FactProvider(Protocol):
    name: str  # the fact's `provider` and its key in the registry
    needs: Need
    live: bool  # asks the network: skipped with --offline (a replay asks nothing at all)

    def gather(self, target: FactTarget, deadline: Deadline, env: FactEnv) -> SiteFact | None:
        """The fact about `target`, found before `deadline`; None when it does not apply."""
        ...


def could_not_check(provider: str, subject: str, reason: str, env: FactEnv, source: str = "") -> SiteFact:
    return SiteFact(provider=provider, subject=subject, outcome=FactOutcome.could_not_check, reason=reason,
                    source=source, gathered_at=env.now_iso())
