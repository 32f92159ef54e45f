"""Domain registration facts from RDAP (RFC 7480-7484, 9082, 9083; bootstrap RFC 9224):
registration, expiry and last-changed dates, registrar, status codes, whether the registrant
is redacted or a privacy service, nameservers.

One query per registrable domain: the answer is cached (per domain, with a TTL; in the audit
store for audits) and concurrent sites of one domain wait for the first one's answer. A
server that answers 429 is left alone for its Retry-After, for every site of the run. The
query goes through the live transport: SSRF guard, --resolve, timeouts, byte cap."""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import quote

from pharmcheck.facts.bootstrap import load_bootstrap
from pharmcheck.facts.interface import FactEnv, FactTarget, Need, could_not_check
from pharmcheck.facts.registry import register
from pharmcheck.fetch.base import Deadline, follow_redirects
from pharmcheck.fetch.guard import literal_address
from pharmcheck.models import FactOutcome, SiteFact
from pharmcheck.urls import authority

RDAP_ACCEPT = "application/rdap+json, application/json;q=0.9"
TTL_OK = 24 * 3600.0  # registration data changes rarely
TTL_NOT_FOUND = 3600.0
TTL_FAILED = 600.0  # a failed lookup is not retried for every site of the domain
DEFAULT_RETRY_AFTER = 60.0  # a 429 without Retry-After
MAX_NAMESERVERS = 20
# Words that mark registrant data as withheld or a privacy/proxy service (RFC 9537 redaction
# aside, registries and registrars write it in the data itself).
PRIVACY_WORDS = ("redacted", "privacy", "proxy", "withheld", "not disclosed", "whoisguard", "data protected",
                 "domains by proxy", "contact privacy", "private registration", "gdpr masked", "statutory masking")


class _RateLimits:
    """RDAP servers that asked us to wait (429), until when (monotonic), for the whole process."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_left(self, server: str) -> float:
        with self._lock:
            return max(0.0, self._until.get(server, 0.0) - time.monotonic())

    def hold(self, server: str, seconds: float) -> None:
        with self._lock:
            self._until[server] = max(self._until.get(server, 0.0), time.monotonic() + seconds)


RATE_LIMITS = _RateLimits()


def _vcard_fn(entity: dict[str, Any]) -> str:
    card = entity.get("vcardArray")
    if isinstance(card, list) and len(card) > 1 and isinstance(card[1], list):
        for prop in card[1]:
            if isinstance(prop, list) and len(prop) >= 4 and prop[0] in ("fn", "org") and isinstance(prop[3], str):
                return prop[3]
    return ""


def _entities(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Entities at the top and nested one level (a registrar's abuse contact)."""
    out: list[dict[str, Any]] = []
    for entity in data.get("entities") or []:
        if isinstance(entity, dict):
            out.append(entity)
            out.extend(e for e in entity.get("entities") or [] if isinstance(e, dict))
    return out


def _remarks_text(obj: dict[str, Any]) -> str:
    parts: list[str] = []
    for remark in obj.get("remarks") or []:
        if isinstance(remark, dict):
            parts.append(str(remark.get("title", "")))
            parts.extend(str(d) for d in remark.get("description") or [])
    return " ".join(parts)


def parse_rdap_domain(data: dict[str, Any]) -> dict[str, Any]:
    """The fields of an RFC 9083 domain object that the `rdap` fact records."""
    events = {str(e.get("eventAction", "")).lower(): str(e.get("eventDate", ""))
              for e in data.get("events") or [] if isinstance(e, dict)}
    registrar = registrant = ""
    registrant_found = False
    registrant_texts: list[str] = []
    for entity in _entities(data):
        roles = [str(r).lower() for r in entity.get("roles") or []]
        if "registrar" in roles and not registrar:
            registrar = _vcard_fn(entity) or str(entity.get("handle", ""))
        if "registrant" in roles:
            registrant_found = True
            registrant = registrant or _vcard_fn(entity)
            registrant_texts.append(f"{_vcard_fn(entity)} {_remarks_text(entity)}")
    redactions = [r for r in data.get("redacted") or [] if isinstance(r, dict)]  # RFC 9537
    redacted_registrant = any("registrant" in json.dumps(r).lower() for r in redactions)
    blob = " ".join(registrant_texts).lower()
    privacy = any(word in blob for word in PRIVACY_WORDS)
    nameservers = sorted({str(ns.get("ldhName", "")).lower().rstrip(".") for ns in data.get("nameservers") or []
                          if isinstance(ns, dict) and ns.get("ldhName")})[:MAX_NAMESERVERS]
    return {
        "domain": str(data.get("ldhName", "")).lower(),
        "registered": events.get("registration", ""),
        "expires": events.get("expiration", ""),
        "last_changed": events.get("last changed", ""),
        "registrar": registrar,
        "status": [str(s) for s in data.get("status") or []],
        "registrant": registrant,
        # Withheld: an RFC 9537 redaction, a privacy/proxy service, or no registrant at all.
        "redacted": redacted_registrant or privacy or not registrant_found,
        "privacy_service": privacy,
        "nameservers": nameservers,
    }


class RdapProvider:
    name = "rdap"
    needs = Need.host
    live = True
    cache_ttl = TTL_OK  # an audit store keeps an established answer this long (audit/factcache.py)

    def gather(self, target: FactTarget, deadline: Deadline, env: FactEnv) -> SiteFact | None:
        domain = target.domain.lower().rstrip(".")
        if not domain or literal_address(domain) is not None:
            return None  # an address is not a registered domain
        base = env.options.rdap_base
        if base is None:
            bootstrap = load_bootstrap()
            base = bootstrap.base_for(domain)
            if base is None:
                tld = domain.rsplit(".", 1)[-1]
                return could_not_check(self.name, domain, f"no RDAP service known for .{tld} "
                                       f"(IANA bootstrap of {bootstrap.publication[:10]}; --rdap-base URL sets one)", env)
        if not base.endswith("/"):
            base += "/"
        with env.cache.lock(self.name, domain):
            cached = env.cache.get(self.name, domain)
            if cached is not None:
                return cached
            fact, ttl = self._query(domain, base, deadline, env)
            env.cache.put(self.name, domain, fact, ttl)
            return fact

    def _query(self, domain: str, base: str, deadline: Deadline, env: FactEnv) -> tuple[SiteFact, float]:
        server = authority(base)
        url = f"{base}domain/{quote(domain)}"
        wait = RATE_LIMITS.wait_left(server)
        if wait > 0:
            return could_not_check(self.name, domain, f"RDAP server {server} asked to wait {wait:.0f} s more (429)",
                                   env, url), min(wait, TTL_FAILED)
        options = env.options
        lookup = options.model_copy(update={"timeout": env.timeout(deadline)})
        from pharmcheck.fetch.live import LiveTransport, retry_after_seconds  # requests: only when looking up

        transport = LiveTransport(lookup, env.limiter, any_body=True)
        transport.session.headers["Accept"] = RDAP_ACCEPT
        try:
            resp = follow_redirects(transport, url, deadline, options.max_redirects)
        finally:
            transport.close()
        if resp.status == 429:
            after = retry_after_seconds(resp.headers.get("retry-after", "")) or DEFAULT_RETRY_AFTER
            RATE_LIMITS.hold(server, after)
            return could_not_check(self.name, domain, f"RDAP server {server} is rate limiting (429, retry after "
                                   f"{after:.0f} s)", env, url), min(after, TTL_FAILED)
        if resp.error is not None and not resp.status:
            return could_not_check(self.name, domain, f"RDAP lookup failed: {resp.error.message}", env, url), TTL_FAILED
        if resp.status == 404:
            return could_not_check(self.name, domain, "the registry's RDAP server has no record of this domain (404)",
                                   env, url), TTL_NOT_FOUND
        if resp.status != 200:
            return could_not_check(self.name, domain, f"RDAP server answered HTTP {resp.status}", env, url), TTL_FAILED
        try:
            data = json.loads(resp.body)
            if not isinstance(data, dict) or data.get("objectClassName", "domain") != "domain":
                raise ValueError("not an RDAP domain object")
            fields = parse_rdap_domain(data)
        except ValueError as exc:
            return could_not_check(self.name, domain, f"unreadable RDAP answer: {str(exc)[:200]}", env, url), TTL_FAILED
        fact = SiteFact(provider=self.name, subject=domain, outcome=FactOutcome.ok, source=resp.final_url,
                        gathered_at=env.now_iso(), data=fields)
        return fact, TTL_OK


register(RdapProvider())
