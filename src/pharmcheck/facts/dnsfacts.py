"""DNS facts (dnspython): the host's A and AAAA addresses (and whether any is not public),
the registrable domain's MX and NS records. `--resolver ADDR[:PORT]` picks the server; by
default the system's. Names that DNS does not answer by design (RFC 2606/6761: .example,
.test, .invalid, .localhost...) and names pinned by --resolve are not looked up unless a
resolver is given: there is nothing to learn from the system's resolver about them."""

from __future__ import annotations

from pharmcheck.facts.interface import FactEnv, FactTarget, Need, could_not_check
from pharmcheck.facts.registry import register
from pharmcheck.fetch import guard
from pharmcheck.fetch.base import Deadline
from pharmcheck.models import SiteFact

RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost", "local", "onion", "internal", "home", "lan"})
MAX_RECORDS = 20


def parse_resolver(value: str) -> tuple[str, int]:
    """'ADDR', 'ADDR:PORT' or '[V6]:PORT' -> (address, port); ValueError if not an address."""
    text = value.strip()
    port = 53
    if text.startswith("["):
        addr, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif text.count(":") == 1:
        addr, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        addr = text
    if guard.literal_address(addr) is None or not 0 < port < 65536:
        raise ValueError(f"not ADDR[:PORT]: {value!r}")
    return addr, port


class DnsProvider:
    name = "dns"
    needs = Need.host
    live = True

    def gather(self, target: FactTarget, deadline: Deadline, env: FactEnv) -> SiteFact | None:
        host = target.host.lower().rstrip(".")
        if not host or guard.literal_address(host) is not None:
            return None
        chosen = env.options.resolver
        if chosen is None:
            pinned = any(h == host for h, _ in env.options.resolve_map())
            if pinned or host.rsplit(".", 1)[-1] in RESERVED_TLDS:
                return None
        import dns.exception  # here, not at the top: ~20 ms of every process, most of which look nothing up
        import dns.name
        import dns.resolver

        resolver = dns.resolver.Resolver(configure=chosen is None)
        if chosen is not None:
            address, port = parse_resolver(chosen)
            resolver.nameservers = [address]
            resolver.port = port
        source = f"resolver {chosen}" if chosen else "system resolver"
        records_of: dict[str, list[str]] = {}
        missing: list[str] = []
        domain = target.domain or host
        for key, name, rdtype in (("a", host, "A"), ("aaaa", host, "AAAA"), ("mx", domain, "MX"), ("ns", domain, "NS")):
            if deadline.expired():
                return could_not_check(self.name, host, "site deadline reached during the DNS lookups", env, source)
            lifetime = env.timeout(deadline)
            try:
                answer = resolver.resolve(name, rdtype, lifetime=lifetime, raise_on_no_answer=False, search=False)
            except dns.resolver.NXDOMAIN:
                records_of[key] = []
                missing.append(name)
                continue
            except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.NoResolverConfiguration,
                    dns.name.NameTooLong, dns.exception.DNSException, OSError) as exc:
                return could_not_check(self.name, host, f"DNS {rdtype} lookup failed: {str(exc)[:200]}", env, source)
            records_of[key] = sorted(r.to_text().lower().rstrip(".") for r in answer)[:MAX_RECORDS]
        addresses = [*records_of.get("a", []), *records_of.get("aaaa", [])]
        data = {**records_of, "private": sorted(a for a in addresses if not guard.is_public(a)),
                "nxdomain": sorted(set(missing))}
        return SiteFact(provider=self.name, subject=host, source=source, gathered_at=env.now_iso(), data=data)


register(DnsProvider())
