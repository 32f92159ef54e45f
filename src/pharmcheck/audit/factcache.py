"""Site facts cached in the audit store (table `fact_cache`, migration 4), so that an audit
asks RDAP once per registrable domain, in this run and in the next ones while the TTL lasts.

Within a run, the sites of one registrable domain go to one worker process (runner.py), whose
in-memory cache (facts.MemoryFactCache) answers all but the first. Across runs, each worker
starts with the store's unexpired facts (`load_fact_cache`), and the audit writes the facts of
every report it stores (`store_facts`, on the store's own thread): worker threads and processes
never touch the store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pydantic import ValidationError

from pharmcheck.facts import PROVIDERS, MemoryFactCache
from pharmcheck.models import SiteFact

if TYPE_CHECKING:
    from pharmcheck.audit.store import Store


def _now() -> datetime:
    return datetime.now(timezone.utc)


def load_fact_cache(store: Store) -> MemoryFactCache:
    """A process's cache, holding the store's unexpired facts."""
    cache = MemoryFactCache()
    now = _now()
    for provider, key, text, expires in store.query(
            "SELECT provider, key, fact, expires_at FROM fact_cache WHERE expires_at > ?", (now.timestamp(),)):
        try:
            fact = SiteFact.model_validate_json(text)
        except ValidationError:
            continue  # a row this version cannot read is asked again
        cache.put(provider, key, fact, float(expires) - now.timestamp())
    return cache


def store_facts(store: Store, facts: list[SiteFact]) -> None:
    """Keep the established facts of providers that cache (RDAP), until gathered_at + their TTL."""
    rows = []
    for fact in facts:
        ttl = getattr(PROVIDERS.get(fact.provider), "cache_ttl", None)
        if not ttl or not fact.ok or not fact.gathered_at:
            continue
        try:
            gathered = datetime.fromisoformat(fact.gathered_at)
        except ValueError:
            continue
        expires = (gathered if gathered.tzinfo else gathered.replace(tzinfo=timezone.utc)) + timedelta(seconds=ttl)
        if expires > _now():
            rows.append((fact.provider, fact.subject, fact.model_dump_json(), expires.timestamp()))
    if rows:
        with store.transaction():
            store.execute_many(
                "INSERT INTO fact_cache (provider, key, fact, expires_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (provider, key) DO UPDATE SET fact = excluded.fact, expires_at = excluded.expires_at",
                rows)
