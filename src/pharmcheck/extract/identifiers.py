"""Identifiers a site shares with the other storefronts of its operator.

Rogue pharmacies run as networks: one operator, hundreds of domains with the same phone,
e-mail, analytics and chat IDs, wallet, merchant descriptor and certificate. This module
finds those identifiers on a page (one bounded pass of RE2 patterns over the HTML source,
each behind a substring prefilter, so a page without "GTM-" costs one `in` test) and on a
site (its TLS certificate). Each identifier keeps its evidence: the page and the words.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

import re2

from pharmcheck.models import Link, SiteFact, SiteIdentifier
from pharmcheck.urls import fast_host, host_of, origin_of, registrable_domain

MAX_PER_PAGE = 100  # identifiers kept per page (a hostile page may list thousands of IDs)
MAX_PER_SITE = 300
MAX_OFFSITE_LINKS = 300  # off-site links looked at per page (a link farm has thousands)
MAX_SOURCE_CHARS = 2_000_000  # the identifiers of a page are in its first 2 MB
_CONTEXT = 40  # characters of evidence on each side of a match


@dataclass(frozen=True)
class _Pattern:
    kind: str
    prefilter: tuple[str, ...]  # one of these substrings must be in the source
    regex: re2._Regexp  # group 1 is the identifier
    upper: bool = False  # normalise the value to upper case


def _p(kind: str, prefilter: tuple[str, ...], regex: str, upper: bool = False) -> _Pattern:
    return _Pattern(kind, prefilter, re2.compile(regex), upper)


# Values are normalised so that the same ID written two ways is one identifier.
_PATTERNS = (
    _p("gtm", ("GTM-",), r"\b(GTM-[A-Z0-9]{4,9})\b"),
    _p("google_analytics", ("UA-",), r"\b(UA-\d{4,10}-\d{1,4})\b"),
    # A GA4 measurement ID is "G-" and 10 characters; only looked for where gtag is loaded.
    _p("google_analytics", ("gtag", "googletagmanager"), r"['\"=/](G-[A-Z0-9]{8,12})\b"),
    _p("yandex_metrika", ("mc.yandex", "ym("), r"(?:mc\.yandex\.[a-z]{2,3}/watch/|\bym\(\s*)(\d{5,12})"),
    _p("facebook_pixel", ("fbq(", "facebook.com/tr"),
       r"(?:fbq\(\s*['\"]init['\"]\s*,\s*['\"]|facebook\.com/tr\?id=)(\d{8,20})"),
    _p("chat_tawk", ("tawk.to",), r"tawk\.to/([0-9a-fA-F]{16,32})\b"),
    _p("chat_livechat", ("__lc", "livechatinc"), r"(?:__lc\.license\s*=\s*|license[=/])(\d{5,10})\b"),
    _p("chat_jivosite", ("jivosite", "jivo.ru", "jivochat"), r"(?:jivosite\.com|jivo\.ru|jivochat\.com)/(?:widget|script/widget)/([A-Za-z0-9]{6,16})"),
    _p("wallet_btc", ("bc1",), r"\b(bc1[ac-hj-np-z02-9]{25,60})\b"),
    _p("wallet_eth", ("0x",), r"\b(0x[a-fA-F0-9]{40})\b"),
    # Card statements show the merchant descriptor, which rogue shops announce in advance.
    _p("merchant_descriptor", ("statement",),
       r"(?i)statement\s+(?:as|will\s+(?:read|show))\s*:?\s*[\"'“«]?(?-i:([A-Z0-9][A-Z0-9*.&\- ]{2,30}[A-Z0-9]))"),
)
# Every prefilter word, found in one RE2 pass over the page instead of one `in` scan each.
_PREFILTER = re2.compile("|".join(re2.escape(w) for w in sorted({w for p in _PATTERNS for w in p.prefilter}
                                                                 | {"bitcoin", "btc"}, key=len, reverse=True)))
# Query parameters that carry an affiliate or partner ID in an outbound link.
_AFFILIATE_PARAMS = frozenset({"aff", "affid", "aff_id", "affiliate", "affiliate_id", "ref", "refid", "ref_id",
                               "partner", "partner_id", "pid", "tracking", "wmid", "utm_source"})
# Words of a host name that make it look like a pharmacy (outbound links to other shops).
_PHARMACY_HOST = re2.compile(r"(?:pharm|apothe|drug|meds|pill|rx|chemist|farmac|viagra|cialis|tablet)")
_BTC_LEGACY = re2.compile(r"\b([13][a-km-zA-HJ-NP-Z1-9]{25,34})\b")


def _evidence(source: str, start: int, end: int) -> str:
    left = max(0, start - _CONTEXT)
    snippet = source[left : end + _CONTEXT]
    return " ".join(snippet.split())[:200]


def page_identifiers(source: str, url: str, emails: Iterable[str], phones: Iterable[str],
                     links: Iterable[Link]) -> list[SiteIdentifier]:
    """The identifiers on one page: IDs in its HTML source, and its contact details and
    outbound links as extraction found them."""
    found: dict[tuple[str, str], SiteIdentifier] = {}

    def add(kind: str, value: str, text: str) -> None:
        if len(found) < MAX_PER_PAGE:
            found.setdefault((kind, value), SiteIdentifier(kind=kind, value=value, url=url, text=text))

    head = source[:MAX_SOURCE_CHARS]
    try:
        encoded = head.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (RE2 reads UTF-8): replaced, as the parser does
        head = head.encode("utf-8", "replace").decode("utf-8")
        encoded = head.encode("utf-8")
    # Searched as bytes: the words are ASCII, and re2 would count characters up to each match.
    present = {m.group(0).decode("ascii") for m in _PREFILTER.finditer(encoded)}
    for pattern in _PATTERNS:
        if present.isdisjoint(pattern.prefilter):
            continue
        for m in pattern.regex.finditer(head):
            value = m.group(1).strip()
            add(pattern.kind, value.upper() if pattern.upper else value, _evidence(head, m.start(), m.end()))
            if len(found) >= MAX_PER_PAGE:
                break
    if "bitcoin" in present or "btc" in present:  # legacy addresses look like any base58 word
        for m in _BTC_LEGACY.finditer(head):
            add("wallet_btc", m.group(1), _evidence(head, m.start(), m.end()))
    for email in emails:
        add("email", email.lower(), email)
    for phone in phones:
        digits = normalise_phone(phone)
        if digits:
            add("phone", digits, phone)
    own_host = host_of(url)
    own = registrable_domain(own_host)
    same_origin = origin_of(url) + "/"
    offsite = 0
    for link in links:
        # Most links of a page are its own site's: skipped before any parsing.
        if link.url.startswith(same_origin) or not link.url.startswith(("http://", "https://")):
            continue
        offsite += 1
        if offsite > MAX_OFFSITE_LINKS:
            break
        for kind, value in _link_identifiers(link.url, own):
            add(kind, value, f"{link.text} -> {link.url}"[:200])
    return list(found.values())


def normalise_phone(phone: str) -> str:
    """Digits only, international prefix 00 as +; national numbers keep their digits (the
    same operator writes its number the same way on its own sites)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.strip().startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits if len(digits) >= 9 else ""


def _link_identifiers(href: str, own_domain: str) -> Iterator[tuple[str, str]]:
    # The host and query by string splits: urlsplit costs ~40 us a link, and a page has hundreds.
    host = fast_host(href)
    if not host:
        return
    domain = registrable_domain(host)
    if domain == own_domain:
        return
    if _PHARMACY_HOST.search(domain):
        yield "outbound_pharmacy", domain
    query = href.partition("?")[2].partition("#")[0]
    if query:
        for key, value in parse_qsl(query)[:20]:
            if key.lower() in _AFFILIATE_PARAMS and 2 <= len(value) <= 40:
                yield "affiliate_id", f"{domain}:{key.lower()}={value}"


def merge_site_identifiers(pages: Iterable[Iterable[SiteIdentifier]]) -> list[SiteIdentifier]:
    """One entry per (kind, value) for the site, with the first page's evidence."""
    merged: dict[tuple[str, str], SiteIdentifier] = {}
    for identifiers in pages:
        for ident in identifiers:
            if len(merged) >= MAX_PER_SITE:
                return list(merged.values())
            merged.setdefault((ident.kind, ident.value), ident)
    return list(merged.values())


def certificate_identifiers(der: bytes, url: str) -> list[SiteIdentifier]:
    """The certificate a site served: its SHA-256 fingerprint and each name it covers (a
    certificate shared by several storefronts names them all)."""
    from cryptography import x509

    fingerprint = hashlib.sha256(der).hexdigest()
    out = [SiteIdentifier(kind="tls_certificate", value=fingerprint, url=url, text=f"SHA-256 {fingerprint}")]
    try:
        cert = x509.load_der_x509_certificate(der)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return out
    names = [str(n).lower() for n in sans.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    for name in names[:50]:
        out.append(SiteIdentifier(kind="tls_san", value=name, url=url,
                                  text=f"certificate names {name} ({len(names)} names)"))
    return out


MAX_FACT_IDENTIFIERS = 20  # per kind: a site listing hundreds of addresses shares nothing more for it


def fact_identifiers(facts: Iterable[SiteFact], url: str) -> list[SiteIdentifier]:
    """Where the site is hosted, from its site facts: its name servers (DNS NS records, or the
    registry's list in RDAP) and its public addresses (DNS A/AAAA). Weak alone (shared
    hosting puts unrelated shops on one address), so rules/data/networks.yaml weighs them low."""
    out: list[SiteIdentifier] = []
    seen: set[tuple[str, str]] = set()
    per_kind: Counter[str] = Counter()

    def add(kind: str, value: str, text: str) -> None:
        value = value.strip().lower().rstrip(".")
        if value and (kind, value) not in seen and per_kind[kind] < MAX_FACT_IDENTIFIERS:
            seen.add((kind, value))
            per_kind[kind] += 1
            out.append(SiteIdentifier(kind=kind, value=value, url=url, text=text))

    for fact in facts:
        if not fact.ok:
            continue
        if fact.provider == "dns":
            for ns in fact.data.get("ns") or []:
                add("name_server", str(ns), f"name server {ns} (DNS NS record of {fact.subject})")
            private = set(fact.data.get("private") or [])
            for record in ("a", "aaaa"):
                for address in fact.data.get(record) or []:
                    if address not in private:
                        add("ip_address", str(address), f"{fact.subject} has address {address} (DNS {record.upper()} record)")
        elif fact.provider == "rdap":
            for ns in fact.data.get("nameservers") or []:
                add("name_server", str(ns), f"name server {ns} (RDAP record of {fact.subject})")
    return out
