"""Matchers over the site facts gathered beyond the pages (pharmcheck.facts): `host_name`,
`domain_age`, `rdap`, `dns`, `register`, `seal_verified` and `tls`. Only a fact that was established (`ok`) can match: a lookup
that could not be made is no evidence either way. Each reads one provider's fact, whatever
page it is asked about, so they are written in `scope: site` rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from pydantic import Field

from pharmcheck.models import Evidence, SiteFact
from pharmcheck.rules.data import Strict, StrList
from pharmcheck.rules.matchers.base import CompileContext, Compiled, Fired, MatcherKind, register
from pharmcheck.rules.page import Page
from pharmcheck.rules.textsearch import CompileError

MIN_CONTAINED = 4  # shorter words are found inside too many host names by chance


def parse_time(value: str) -> datetime | None:
    """An RFC 3339 / ISO 8601 date or time as an aware datetime; None if absent or unreadable."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


@dataclass
class FactC(Compiled):
    """A matcher over one provider's fact."""

    provider: str

    def on_fact(self, fact: SiteFact) -> list[Evidence] | None:
        raise NotImplementedError

    def on_page(self, page: Page) -> list[Evidence] | None:
        fact = page.site_fact(self.provider)
        if fact is None or not fact.ok:
            return None
        return self.on_fact(fact)

    def on_site(self, pages: list[Page], fired: Fired) -> list[Evidence] | None:
        return self.on_page(pages[0]) if pages else None


# --- host_name ----------------------------------------------------------------------------


class HostNameMatcher(Strict):
    words: StrList = Field(default_factory=list)  # whole words of the host (its look-alike letters folded)
    contains: StrList = Field(default_factory=list)  # found anywhere in the host (hosts run words together)
    punycode: bool | None = None
    confusable: bool | None = None  # look-alike letters of another script stand for Latin ones
    mixed_scripts: bool | None = None


@dataclass
class HostNameC(FactC):
    words: frozenset[str]
    contains: tuple[str, ...]
    flags: dict[str, bool]

    def on_fact(self, fact: SiteFact) -> list[Evidence] | None:
        data = fact.data
        host = str(data.get("host", fact.subject))
        said: list[str] = []
        for flag, wanted in self.flags.items():
            if bool(data.get(flag)) != wanted:
                return None
            if wanted:
                said.append({"punycode": f"is punycode for {data.get('unicode', '')}",
                             "confusable": f"imitates {data.get('skeleton', '')} with look-alike letters",
                             "mixed_scripts": "mixes scripts (" + ", ".join(data.get("scripts", [])) + ")"}[flag])
        if self.words:
            found = sorted(self.words & set(data.get("words", [])))
            if not found:
                return None
            said.append("has the word" + ("s " if len(found) > 1 else " ") + ", ".join(repr(w) for w in found[:5]))
        if self.contains:
            skeleton = str(data.get("skeleton", host))
            inside = [w for w in self.contains if w in skeleton]
            if not inside:
                return None
            said.append("contains " + ", ".join(repr(w) for w in inside[:5]))
        return [Evidence(url=f"host:{host}", text=f"host name {host} " + "; ".join(said))]


def compile_host_name(m: HostNameMatcher, ctx: CompileContext) -> HostNameC:
    flags = {k: v for k, v in (("punycode", m.punycode), ("confusable", m.confusable),
                               ("mixed_scripts", m.mixed_scripts)) if v is not None}
    contained = tuple(sorted({w.lower() for w in ctx.expand(m.contains) if len(w) >= MIN_CONTAINED}))
    return HostNameC("hostname", frozenset(w.lower() for w in ctx.expand(m.words)), contained, flags)


# --- domain_age / rdap --------------------------------------------------------------------


class DomainAgeMatcher(Strict):
    max_days: int | None = Field(None, ge=0)  # registered at most this many days before the check
    min_days: int | None = Field(None, ge=0)


def domain_age_days(fact: SiteFact) -> int | None:
    """Days between the domain's registration and when the fact was gathered (not now: a
    replay of an old capture judges the domain as it was then)."""
    registered = parse_time(str(fact.data.get("registered", "")))
    gathered = parse_time(fact.gathered_at)
    if registered is None or gathered is None:
        return None
    return max(0, (gathered - registered).days)


@dataclass
class DomainAgeC(FactC):
    max_days: int | None
    min_days: int | None

    def on_fact(self, fact: SiteFact) -> list[Evidence] | None:
        days = domain_age_days(fact)
        if days is None:
            return None
        if (self.max_days is not None and days > self.max_days) or (self.min_days is not None and days < self.min_days):
            return None
        registered = str(fact.data.get("registered", ""))[:10]
        return [Evidence(url=fact.source or f"rdap:{fact.subject}",
                         text=f"domain {fact.subject} registered {registered}, {days} days before the check (RDAP)")]


def compile_domain_age(m: DomainAgeMatcher, ctx: CompileContext) -> DomainAgeC:
    if m.max_days is None and m.min_days is None:
        raise CompileError("domain_age needs max_days or min_days")
    return DomainAgeC("rdap", m.max_days, m.min_days)


class RdapMatcher(Strict):
    redacted: bool | None = None  # registrant withheld: RFC 9537 redaction, privacy service, or none given
    privacy_service: bool | None = None
    status: StrList = Field(default_factory=list)  # any of these EPP status codes ("client hold"...)
    expires_within_days: int | None = Field(None, ge=0)  # expiry at most this many days after the check


@dataclass
class RdapC(FactC):
    flags: dict[str, bool]
    status: frozenset[str]
    expires_within_days: int | None

    def on_fact(self, fact: SiteFact) -> list[Evidence] | None:
        data = fact.data
        said: list[str] = []
        for flag, wanted in self.flags.items():
            if bool(data.get(flag)) != wanted:
                return None
            said.append("registrant " + ("withheld" if wanted else "named") if flag == "redacted"
                         else ("a privacy service" if wanted else "no privacy service"))
        if self.status:
            found = sorted(self.status & {str(s).lower() for s in data.get("status", [])})
            if not found:
                return None
            said.append("status " + ", ".join(found))
        if self.expires_within_days is not None:
            expires, gathered = parse_time(str(data.get("expires", ""))), parse_time(fact.gathered_at)
            if expires is None or gathered is None or (expires - gathered).days > self.expires_within_days:
                return None
            said.append(f"expires {str(data.get('expires'))[:10]}")
        return [Evidence(url=fact.source or f"rdap:{fact.subject}", text=f"domain {fact.subject}: " + "; ".join(said)
                         + (f" (registrar {data['registrar']})" if data.get("registrar") else ""))]


def compile_rdap(m: RdapMatcher, ctx: CompileContext) -> RdapC:
    flags = {k: v for k, v in (("redacted", m.redacted), ("privacy_service", m.privacy_service)) if v is not None}
    if not flags and not m.status and m.expires_within_days is None:
        raise CompileError("rdap needs redacted, privacy_service, status or expires_within_days")
    return RdapC("rdap", flags, frozenset(s.lower() for s in ctx.expand(m.status)), m.expires_within_days)


# --- tls ------------------------------------------------------------------------------------


class TlsMatcher(Strict):
    self_signed: bool | None = None
    expired: bool | None = None
    trusted: bool | None = None  # a verifying client accepted it
    min_names: int | None = Field(None, ge=2)  # the certificate names at least this many hosts


@dataclass
class TlsC(FactC):
    flags: dict[str, bool]
    min_names: int | None

    def on_fact(self, fact: SiteFact) -> list[Evidence] | None:
        data = fact.data
        said: list[str] = []
        for flag, wanted in self.flags.items():
            if bool(data.get(flag)) != wanted:
                return None
            said.append(flag.replace("_", "-") if wanted else "not " + flag.replace("_", "-"))
        if self.min_names is not None:
            names = data.get("sans", [])
            if len(names) < self.min_names:
                return None
            said.append(f"names {len(names)} hosts ({', '.join(names[:4])}{'…' if len(names) > 4 else ''})")
        if data.get("verify_error"):
            said.append(f"verification: {data['verify_error']}")
        issuer = data.get("issuer_cn") or data.get("issuer", "")
        return [Evidence(url=fact.source or f"tls:{fact.subject}",
                         text=f"certificate of {fact.subject} issued by {issuer}: " + "; ".join(said))]


def compile_tls(m: TlsMatcher, ctx: CompileContext) -> TlsC:
    flags = {k: v for k, v in (("self_signed", m.self_signed), ("expired", m.expired), ("trusted", m.trusted))
             if v is not None}
    if not flags and m.min_names is None:
        raise CompileError("tls needs self_signed, expired, trusted or min_names")
    return TlsC("tls", flags, m.min_names)


# --- dns ------------------------------------------------------------------------------------


class DnsMatcher(Strict):
    private: bool | None = None  # the host resolves to a non-public address
    mx: bool | None = None  # the domain has MX records (takes e-mail)


@dataclass
class DnsC(FactC):
    private: bool | None
    mx: bool | None

    def on_fact(self, fact: SiteFact) -> list[Evidence] | None:
        data = fact.data
        said: list[str] = []
        if self.private is not None:
            private = list(data.get("private", []))
            if bool(private) != self.private:
                return None
            said.append(f"resolves to non-public {', '.join(private[:3])}" if private else "resolves to public addresses only")
        if self.mx is not None:
            mx = list(data.get("mx", []))
            if bool(mx) != self.mx:
                return None
            said.append(f"mail servers {', '.join(mx[:3])}" if mx else "no mail server (MX)")
        return [Evidence(url=f"dns:{fact.subject}", text=f"DNS of {fact.subject}: " + "; ".join(said))]


def compile_dns(m: DnsMatcher, ctx: CompileContext) -> DnsC:
    if m.private is None and m.mx is None:
        raise CompileError("dns needs private or mx")
    return DnsC("dns", m.private, m.mx)


# --- register -------------------------------------------------------------------------------


class RegisterMatcher(Strict):
    status: StrList = Field(default_factory=list)  # e.g. [not_recommended, rogue]; empty: any
    allow: bool | None = None  # an allow status (registered, licensed...) or a deny one
    # Last: below this line, `list` in the class body would be this field.
    list: StrList = Field(default_factory=list)  # imported list names; empty: any


@dataclass
class RegisterC(FactC):
    lists: frozenset[str]
    statuses: frozenset[str]
    allow: bool | None

    def on_fact(self, fact: SiteFact) -> list[Evidence] | None:
        found = [e for e in fact.data.get("entries", [])
                 if (not self.lists or e.get("list") in self.lists) and (not self.statuses or e.get("status") in self.statuses)
                 and (self.allow is None or bool(e.get("allow")) == self.allow)]
        if not found:
            return None
        return [Evidence(url=f"register:{e.get('list')}",
                         text=f"{e.get('domain')} listed in {e.get('source')} ({e.get('status')}), {e.get('date')}")
                for e in found]


def compile_register(m: RegisterMatcher, ctx: CompileContext) -> RegisterC:
    return RegisterC("register", frozenset(ctx.expand(m.list)), frozenset(s.lower() for s in ctx.expand(m.status)), m.allow)


# --- seal_verified --------------------------------------------------------------------------


SEAL_OUTCOMES = ("this_domain", "other_domain", "not_listed")


class SealVerifiedMatcher(Strict):
    outcome: list[Literal["this_domain", "other_domain", "not_listed"]] = Field(min_length=1)
    issuer: StrList = Field(default_factory=list)  # ids of data/seal_issuers.yaml; empty: any


@dataclass
class SealVerifiedC(FactC):
    outcomes: frozenset[str]
    issuers: frozenset[str]

    def on_fact(self, fact: SiteFact) -> list[Evidence] | None:
        found = [c for c in fact.data.get("checks", [])
                 if c.get("outcome") in self.outcomes and (not self.issuers or c.get("issuer") in self.issuers)]
        if not found:
            return None
        out = []
        for check in found:
            name, listed = check.get("issuer_name", check.get("issuer")), ", ".join(check.get("listed", [])[:3])
            said = {"this_domain": f"{name} lists {fact.subject}" + (f" ({check['status']})" if check.get("status") else ""),
                    "other_domain": f"{name}'s page the seal links to lists {listed}, not {fact.subject}",
                    "not_listed": f"{name} does not list {fact.subject}"}[str(check["outcome"])]
            out.append(Evidence(url=str(check.get("url", "")), text=said))
        return out


def compile_seal_verified(m: SealVerifiedMatcher, ctx: CompileContext) -> SealVerifiedC:
    return SealVerifiedC("seal", frozenset(m.outcome), frozenset(ctx.expand(m.issuer)))


register(MatcherKind(
    name="host_name",
    options=HostNameMatcher,
    compile=compile_host_name,
    matches="(site facts) the host name: whole `words` or `contains` (a list or `@name`, look-alike letters folded), "
            "`punycode`, `confusable`, `mixed_scripts`",
    evidence="the host and what it says",
))
register(MatcherKind(
    name="domain_age",
    options=DomainAgeMatcher,
    compile=compile_domain_age,
    matches="(site facts) the domain's registration (RDAP) at most `max_days` / at least `min_days` before the check",
    evidence="the registration date and the RDAP answer",
))
register(MatcherKind(
    name="rdap",
    options=RdapMatcher,
    compile=compile_rdap,
    matches="(site facts) RDAP registration data: `redacted` registrant, `privacy_service`, EPP `status` codes, "
            "`expires_within_days`",
    evidence="the domain, what matched and its registrar",
))
register(MatcherKind(
    name="dns",
    options=DnsMatcher,
    compile=compile_dns,
    matches="(site facts) the host's DNS: `private` (a non-public A/AAAA address), `mx` (the domain takes e-mail)",
    evidence="the records that matched",
))
register(MatcherKind(
    name="register",
    options=RegisterMatcher,
    compile=compile_register,
    matches="(site facts) the domain in an imported register snapshot (`pharmcheck registers import`): its `list`, "
            "`status`, or `allow` (an allow or a deny status)",
    evidence="the list, status and date",
))
register(MatcherKind(
    name="seal_verified",
    options=SealVerifiedMatcher,
    compile=compile_seal_verified,
    matches="(site facts) what the issuer's own page says of a seal's link: `outcome` `this_domain`, `other_domain` "
            "or `not_listed`, of an `issuer`",
    evidence="the issuer's answer and its page",
))
register(MatcherKind(
    name="tls",
    options=TlsMatcher,
    compile=compile_tls,
    matches="(site facts) the final URL's TLS certificate: `self_signed`, `expired`, `trusted`, `min_names` it covers",
    evidence="the certificate's issuer and what matched",
))
