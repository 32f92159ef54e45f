"""The currency between pipeline stages: fetch -> extract -> rules -> score -> report.

Every stage takes and returns these pydantic models; no stage imports another stage's
internals. Field names of `Report` are a public contract (`--format json`, the audit
database, exports): change them only with a schema version bump.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

# 2: each finding once (in `findings`, not also under each criterion); `score` is null for an
# unreachable site.
SCHEMA_VERSION = "2"


class ExitCode(IntEnum):
    """Process exit codes (documented in the README)."""

    OK = 0  # checked; verdict below --fail-on
    FAIL_ON = 1  # checked; verdict at or above --fail-on
    USAGE = 2  # bad usage, configuration, input file or rule error
    UNREACHABLE = 3  # could not assess: nothing could be fetched and analysed
    INTERNAL = 4  # a bug in pharmcheck (rerun with --traceback and report it)
    INTERRUPTED = 130  # Ctrl-C (SIGINT); finished work is kept


class Verdict(str, Enum):
    legitimate = "legitimate"
    suspicious = "suspicious"
    rogue = "rogue"
    not_pharmacy = "not_pharmacy"
    unreachable = "unreachable"


# How bad a verdict is, for --fail-on (and for what counts as news in `audit diff`).
VERDICT_RANK: dict[str, int] = {Verdict.legitimate.value: 0, Verdict.not_pharmacy.value: 0,
                                Verdict.unreachable.value: 0, Verdict.suspicious.value: 1, Verdict.rogue.value: 2}
# The --fail-on choices: a verdict at or above this rank fails.
FAIL_ON_RANK: dict[str, int] = {"suspicious": 1, "rogue": 2}


class Status(str, Enum):
    met = "met"
    not_met = "not_met"
    red_flag = "red_flag"
    unknown = "unknown"


class Severity(str, Enum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class Confidence(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"


class ErrorCode(str, Enum):
    """Kinds of fetch failure; each is kept apart so "could not check" never reads as "not compliant"."""

    invalid_url = "invalid_url"
    unsupported_scheme = "unsupported_scheme"
    dns = "dns"
    connection_refused = "connection_refused"
    connection = "connection"
    tls = "tls"
    timeout = "timeout"
    deadline = "deadline"
    too_many_redirects = "too_many_redirects"
    redirect_loop = "redirect_loop"
    too_large = "too_large"
    robots = "robots"
    blocked_private = "blocked_private"
    http_status = "http_status"
    not_html = "not_html"
    not_in_archive = "not_in_archive"
    offsite_redirect = "offsite_redirect"
    # --render: the browser's own limits and refusals (its requests to private addresses or
    # other schemes are blocked_private / unsupported_scheme, like the plain fetcher's).
    render = "render"  # the browser failed or ran out of time on a page
    render_limit = "render_limit"  # a page's request or byte cap was reached
    download_refused = "download_refused"
    worker_crash = "worker_crash"  # audit --runner dask: the site killed the worker processes that audited it


class FetchError(BaseModel):
    code: ErrorCode
    url: str
    message: str


# --- fetch ------------------------------------------------------------------------------


# Upper bound of --max-bytes: what one page may cost, times --workers pages in flight
# (extraction holds a few copies of a body; 60M once cost 1.7 GB for one site).
MAX_BYTES_LIMIT = 20_000_000


class FetchOptions(BaseModel):
    """Limits and manners of the fetch stage (and of the site facts gathered beyond the
    pages, facts/); the same for `check` and `audit`."""

    model_config = ConfigDict(frozen=True)

    max_pages: int = Field(10, ge=1, le=200)
    timeout: float = Field(10.0, gt=0, description="per-request connect/read timeout, seconds")
    site_timeout: float = Field(60.0, gt=0, description="total deadline for one site, seconds")
    max_bytes: int = Field(3_000_000, ge=1024, le=MAX_BYTES_LIMIT, description="body cap after decompression")
    max_redirects: int = Field(10, ge=0, le=50)
    per_host: int = Field(2, ge=1, le=64)
    retries: int = Field(2, ge=0, le=10)
    allow_private: bool = False
    ignore_robots: bool = False
    user_agent: str | None = None  # None: the honest default naming the tool
    # Headless Chromium: "on" renders every page, "auto" only pages that look script-built.
    render: Literal["off", "on", "auto"] = "off"
    screenshots: bool = False  # a PNG of every page (rendered or, without --render, as fetched)
    # --resolve HOST:PORT:ADDR (curl semantics): connect to ADDR for HOST:PORT; the name stays
    # the request's Host, SNI and certificate name. Checked by the SSRF guard like DNS answers.
    resolve: tuple[str, ...] = ()
    offline: bool = False  # --offline: no live site facts (RDAP, DNS, certificate handshake); pages still fetched
    rdap_base: str | None = None  # --rdap-base URL: ask this RDAP server instead of the bootstrap's
    resolver: str | None = None  # --resolver ADDR[:PORT]: the DNS server site facts ask

    @field_validator("resolve")
    @classmethod
    def _resolve_entries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            parse_resolve(entry)
        return value

    def resolve_map(self) -> dict[tuple[str, int], str]:
        """(host, port) -> address, from --resolve."""
        return dict(parse_resolve(entry) for entry in self.resolve)

    @property
    def uses_browser(self) -> bool:
        """Whether Chromium reads the pages (--render on or auto, or --screenshots)."""
        return self.render != "off" or self.screenshots


def parse_resolve(entry: str) -> tuple[tuple[str, int], str]:
    """'HOST:PORT:ADDR' (ADDR may be a bracketed IPv6 address) -> ((host, port), addr)."""
    host, sep, rest = entry.partition(":")
    port_text, sep2, addr = rest.partition(":")
    if not sep or not sep2 or not host or not addr or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"not HOST:PORT:ADDR: {entry!r}")
    addr = addr.strip("[]")
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise ValueError(f"not an IP address in {entry!r}: {addr!r}") from None
    return (host.lower().rstrip("."), int(port_text)), addr


class Response(BaseModel):
    """One fetched URL, as the fetch stage saw it (body included, for extraction)."""

    url: str  # requested URL (normalised)
    final_url: str  # after redirects
    status: int = 0  # 0 when no HTTP response was received
    headers: dict[str, str] = Field(default_factory=dict)
    content_type: str = ""
    body: bytes = b""
    truncated: bool = False
    redirects: list[str] = Field(default_factory=list)  # the chain, first hop first
    error: FetchError | None = None
    elapsed: float = 0.0
    certificate: bytes = b""  # DER of the peer's TLS certificate (https, live fetch)

    @property
    def is_html(self) -> bool:
        ct = self.content_type.lower()
        return ct == "" or "html" in ct


class Screenshot(BaseModel):
    """A full-page PNG of a page (height-capped). The image itself is kept out of JSON reports
    and the audit database (it is in the WARC and the HTML report); its digest is not."""

    sha256: str
    width: int
    height: int
    capped: bool = False  # the page was taller than the cap: the top of it was taken
    png: SkipJsonSchema[bytes] = Field(b"", exclude=True, repr=False)


class PageInfo(BaseModel):
    """What the report says about each fetched page."""

    url: str
    final_url: str | None = None
    status: int
    content_type: str
    bytes: int
    truncated: bool = False
    redirects: list[str] = Field(default_factory=list)
    title: str | None = None
    error: ErrorCode | None = None
    language: str | None = None  # ISO 639-1 code of the page's text, when it could be told
    rendered: bool = False  # read from the DOM headless Chromium built (--render)
    screenshot: Screenshot | None = None

    @property
    def was_read(self) -> bool:
        """Fetched whole and without an HTTP error: what every report counts as "read"."""
        return bool(self.status) and self.status < 400 and not self.error


# --- extract ----------------------------------------------------------------------------


# A page has hundreds of links and images: they are plain slotted dataclasses, built ~10x
# faster than pydantic models, and PageFacts takes them without re-validating (extraction
# builds them from parsed HTML; they never come from outside). Each pickles as its class and
# field values (__reduce__): a page's facts cross to and from the audit's analysis
# processes, and a slotted dataclass otherwise pickles through copyreg with a Python
# __getstate__/__setstate__ call per object (a listing page's facts took ~2x as long).


@dataclass(slots=True)
class Link:
    url: str
    text: str = ""

    def __reduce__(self) -> tuple[type[Link], tuple[Any, ...]]:
        return Link, (self.url, self.text)


@dataclass(slots=True)
class Image:
    src: str
    alt: str = ""
    title: str = ""
    link: str | None = None  # href of the enclosing <a>, absolute

    def __reduce__(self) -> tuple[type[Image], tuple[Any, ...]]:
        return Image, (self.src, self.alt, self.title, self.link)


@dataclass(slots=True)
class Form:
    action: str = ""
    method: str = "get"
    fields: tuple[str, ...] = ()  # input names and types, "name:type"
    file_upload: bool = False

    def __reduce__(self) -> tuple[type[Form], tuple[Any, ...]]:
        return Form, (self.action, self.method, self.fields, self.file_upload)


@dataclass(slots=True)
class Price:
    amount: float
    currency: str
    text: str

    def __reduce__(self) -> tuple[type[Price], tuple[Any, ...]]:
        return Price, (self.amount, self.currency, self.text)


class DrugMention(BaseModel):
    name: str  # canonical (generic) name from rules/data/drugs.yaml
    matched: str  # the words as found on the page
    schedule: str  # e.g. "rx", "controlled", "otc"
    category: str = ""  # e.g. "opioid", "benzodiazepine"


class SiteIdentifier(BaseModel):
    """Something a site shares with the other storefronts of its operator (a phone, a tag
    manager ID, a wallet, a certificate...), with where it was seen: see extract/identifiers.py."""

    kind: str  # e.g. "gtm", "phone", "email", "tls_certificate"
    value: str  # normalised: the same ID written two ways is one value
    url: str  # the page (or the site, for a certificate) where it was seen
    text: str = ""  # the words around it


class PageFacts(BaseModel):
    """Everything the rules may look at on one page; built once per page by `extract`."""

    url: str
    title: str = ""
    text: str = ""  # visible text, whitespace folded, scripts/styles removed
    links: SkipValidation[list[Link]] = Field(default_factory=list)
    images: SkipValidation[list[Image]] = Field(default_factory=list)
    forms: SkipValidation[list[Form]] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    prices: SkipValidation[list[Price]] = Field(default_factory=list)
    drugs: list[DrugMention] = Field(default_factory=list)
    jsonld: list[dict[str, Any]] = Field(default_factory=list)
    truncated: bool = False
    identifiers: list[SiteIdentifier] = Field(default_factory=list)
    # Hashed DOM-path and text shingles of the page (extract/template.py); not output.
    shingles: frozenset[int] = Field(default_factory=frozenset, exclude=True, repr=False)
    language: str = ""  # ISO 639-1 code of the visible text ("" when it cannot be told)
    # Lower-case words of the title, text and link addresses: computed once by extraction for
    # the drug lookup, and reused by the rules' word prefilters. Not part of any output.
    words: frozenset[str] = Field(default_factory=frozenset, exclude=True, repr=False)


DRUG_SCHEDULES = ("rx", "controlled", "otc", "unapproved")


class DrugEntry(BaseModel):
    name: str
    schedule: str = "rx"  # rx | controlled | otc | unapproved
    category: str = ""
    synonyms: list[str] = Field(default_factory=list)
    # market (country code, "uk") -> its schedule there, where national law differs from `schedule`
    markets: dict[str, str] = Field(default_factory=dict)

    @field_validator("markets")
    @classmethod
    def _known_schedules(cls, markets: dict[str, str]) -> dict[str, str]:
        for market, schedule in markets.items():
            if schedule not in DRUG_SCHEDULES:
                raise ValueError(f"market {market!r}: unknown schedule {schedule!r} (one of {', '.join(DRUG_SCHEDULES)})")
            if not (len(market) == 2 and market.isascii() and market.isalpha() and market.islower()):
                raise ValueError(f"market {market!r}: a two-letter lower-case country code (uk for the United Kingdom)")
        return markets


class DrugLexicon(BaseModel):
    """Reference drug names, loaded from `rules/data/drugs.yaml`, handed to extraction."""

    drugs: list[DrugEntry] = Field(default_factory=list)
    # page language -> its market, for pages whose host has no country code of a market
    market_languages: dict[str, str] = Field(default_factory=dict)


class FactOutcome(str, Enum):
    """Whether a fact could be established; "could not check" is never "not compliant"."""

    ok = "ok"
    could_not_check = "could_not_check"


class SiteFact(BaseModel):
    """One fact about a site gathered beyond its pages (facts/: host name, certificate, RDAP,
    DNS...), as its provider found it. `data` holds the provider's fields (README, "Site facts")."""

    provider: str  # the provider's name, e.g. "hostname", "certificate", "rdap"
    subject: str  # what it is about: the host, the registrable domain, the URL
    outcome: FactOutcome = FactOutcome.ok
    reason: str = ""  # why it could not be checked (timeout, no RDAP service, 429...)
    source: str = ""  # where the answer came from (an RDAP URL, a resolver, "host name")
    gathered_at: str = ""  # ISO 8601 UTC: ages are counted from here, so a replay gives the same
    data: dict[str, Any] = Field(default_factory=dict)
    # Raw bytes behind the fact (the certificate's DER): kept in the WARC record, not in reports.
    raw: SkipJsonSchema[bytes] = Field(b"", exclude=True, repr=False)

    @property
    def ok(self) -> bool:
        return self.outcome == FactOutcome.ok


class SiteFacts(BaseModel):
    """All pages of one site, ready for the rules, and the site facts gathered beside them."""

    url: str
    final_url: str
    domain: str  # registrable domain, e.g. example.co.uk
    host: str
    pages: list[PageFacts] = Field(default_factory=list)
    redirects: list[str] = Field(default_factory=list)  # start URL's redirect chain
    facts: list[SiteFact] = Field(default_factory=list)  # site facts (facts/), one per provider

    def fact(self, provider: str) -> SiteFact | None:
        return next((f for f in self.facts if f.provider == provider), None)


# --- rules / score / report -------------------------------------------------------------


class Evidence(BaseModel):
    url: str
    text: str


class Finding(BaseModel):
    rule_id: str
    criterion: str
    name: str = ""
    severity: Severity
    confidence: Confidence
    weight: float
    message: str
    evidence: list[Evidence] = Field(default_factory=list)


class CriterionResult(BaseModel):
    label: str = ""  # its human name, from rules/scoring.yaml
    status: Status
    score: int = Field(ge=0, le=100)
    # Not written out: a report carries each finding once, in Report.findings (each names its
    # criterion); Report fills these lists back from there when a report is read.
    findings: list[Finding] = Field(default_factory=list, exclude=True)


class Contribution(BaseModel):
    """One feature's part in the fitted verdict: `weight` > 0 pushed toward `toward`, < 0 away."""

    feature: str  # "rule:<ID>", "criterion:<name>", "host:<kind>", "page:<kind>", "text:<class>"
    rule: str | None = None  # the rule's id, for a rule:<ID> feature
    toward: str  # the class the model rated most likely
    weight: float
    detail: str = ""  # the rule's message, or the words that moved the text model


class NetworkMembership(BaseModel):
    """A site's place in an affiliate network of its audit run (networks/): added to the
    stored report when the run's networks are exported. `verdict`/`score` of the report are
    then the network-aware ones; `own_verdict`/`own_score` what the site alone gave."""

    network: int
    size: int = Field(ge=2)
    rogue: int = Field(ge=0)
    own_verdict: Verdict
    own_score: int | None = None
    rescored: bool = False  # whether the network finding moved the verdict or score


class ToolInfo(BaseModel):
    name: str
    version: str
    rules_version: str


class Report(BaseModel):
    schema_version: str = SCHEMA_VERSION
    url: str
    final_url: str
    verdict: Verdict
    score: int | None = Field(ge=0, le=100, description="0 = certainly rogue, 100 = certainly legitimate; "
                              "null when the site could not be assessed (unreachable)")
    summary: str = ""
    # The fitted judgement's probability of its most likely class (None: hand-set scoring),
    # and the features that decided it, largest first.
    confidence: float | None = Field(None, ge=0, le=1)
    contributions: list[Contribution] = Field(default_factory=list)
    # The fitted judgement's class probabilities (legitimate, rogue, not_pharmacy): what a
    # later, batch-level finding (a rogue network) is weighed against without re-reading pages.
    probabilities: dict[str, float] = Field(default_factory=dict)
    criteria: dict[str, CriterionResult] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list, description="every finding, once; each names its criterion")
    pages: list[PageInfo] = Field(default_factory=list)
    errors: list[FetchError] = Field(default_factory=list)
    tool: ToolInfo
    # What the site shares with other storefronts of an operator (networks/): identifiers
    # with their evidence, and the MinHash of its page structure and boilerplate.
    identifiers: list[SiteIdentifier] = Field(default_factory=list)
    template: list[int] = Field(default_factory=list)
    # Facts beyond the pages (domain registration, certificate, DNS, host name...), each ok
    # or could_not_check with its reason.
    facts: list[SiteFact] = Field(default_factory=list)
    network: NetworkMembership | None = None  # set in exports of an audit run whose networks are computed
    checked_at: str = ""
    duration: float = 0.0

    @property
    def pages_read(self) -> int:
        """How many of `pages` were read (the "N read of M tried" of every format)."""
        return sum(1 for page in self.pages if page.was_read)

    @model_validator(mode="after")
    def _findings_under_their_criteria(self) -> Report:
        """A report read from JSON gets each criterion's findings back from `findings`."""
        if self.findings and not any(c.findings for c in self.criteria.values()):
            for finding in sorted(self.findings, key=lambda f: (-abs(f.weight), f.rule_id)):
                if finding.criterion in self.criteria:
                    self.criteria[finding.criterion].findings.append(finding)
        return self


class AuditRun(BaseModel):
    """One batch audit, as stored and as shown at the top of audit reports."""

    id: int
    input: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    tool: ToolInfo
    started_at: str
    finished_at: str | None = None
    total: int | None = None  # sites in the input, when known
