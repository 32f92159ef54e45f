"""The rule file format, as pydantic models: a rule file that loads is a rule that can run."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pharmcheck.models import Confidence, DrugLexicon, Severity

RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
CRITERIA = ("licensing", "prescription", "reviews", "identity", "commerce", "seller")

StrList = list[str] | str  # a list, or "@name" naming a list in rules/data/


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextMatcher(Strict):
    """Phrases (word-bounded, case-folded, any whitespace) and/or regular expressions."""

    phrases: StrList = Field(default_factory=list)
    regex: StrList = Field(default_factory=list)
    field: Literal["text", "title", "url", "all"] = "all"
    # Words one of which must be on the page before the regexes run (a cheap prefilter).
    anchors: list[str] = Field(default_factory=list)
    # For `unless`: how much text around the primary match is looked at.
    window: Literal["sentence", "line", "page"] | int = "sentence"


class LinkMatcher(Strict):
    href: StrList = Field(default_factory=list)  # regexes over the absolute URL
    text: StrList = Field(default_factory=list)  # phrases in the link text
    domain: StrList = Field(default_factory=list)  # registrable domains (or "@list")
    offsite: bool | None = None  # True: only links to other sites


class ImageMatcher(Strict):
    words: StrList = Field(default_factory=list)  # phrases in src/alt/title
    linked: bool | None = None  # True: inside a link; False: not inside a link
    link_domain: StrList = Field(default_factory=list)


class FormMatcher(Strict):
    file_upload: bool | None = None
    field: StrList = Field(default_factory=list)  # regexes over "name:type"


class JsonLdMatcher(Strict):
    type: StrList = Field(default_factory=list)
    has: list[str] = Field(default_factory=list)  # properties that must be present
    # Phrases one of which must occur in the item's JSON (case-folded), e.g. a review platform.
    contains: StrList = Field(default_factory=list)


class DrugMatcher(Strict):
    schedule: list[str] = Field(default_factory=list)  # rx | controlled | otc; empty: any
    category: list[str] = Field(default_factory=list)
    min: int = Field(1, ge=1)  # distinct drugs on the page (or site, for site rules)


class PriceMatcher(Strict):
    min: int = Field(1, ge=1)


class ContactMatcher(Strict):
    """Contact details found by extraction (e-mail addresses, phone numbers)."""

    email: bool | None = None  # True: at least one e-mail address on the page
    phone: bool | None = None  # True: at least one phone number on the page
    email_domain: StrList = Field(default_factory=list)  # an e-mail address at one of these domains


class DomainMatcher(Strict):
    tld: list[str] = Field(default_factory=list)  # e.g. ["pharmacy"]
    regex: StrList = Field(default_factory=list)  # over the host name


class SealMatcher(Strict):
    """A seal or accreditation claim, judged against its issuer (rules/data/seals.yaml)."""

    issuer: list[str] = Field(default_factory=list)  # issuer ids; empty: any issuer
    outcome: Literal["verified", "unverified", "mismatch"]


class Matcher(Strict):
    """Exactly one of the keys below."""

    text: TextMatcher | None = None
    link: LinkMatcher | None = None
    image: ImageMatcher | None = None
    form: FormMatcher | None = None
    jsonld: JsonLdMatcher | None = None
    drug: DrugMatcher | None = None
    price: PriceMatcher | None = None
    domain: DomainMatcher | None = None
    contact: ContactMatcher | None = None
    seal: SealMatcher | None = None
    fired: list[str] | None = None  # ids of rules that fired on the site (site rules only)
    all: list[Matcher] | None = None
    any: list[Matcher] | None = None
    not_: Matcher | None = Field(None, alias="not")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _one_kind(self) -> Matcher:
        kinds = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a matcher has exactly one kind, got {kinds or 'none'}")
        return self

    @property
    def kind(self) -> str:
        for name in type(self).model_fields:
            if getattr(self, name) is not None:
                return "not" if name == "not_" else name
        raise AssertionError("validated matcher has a kind")


class Example(Strict):
    html: str
    url: str = "https://shop.example-pharmacy.test/"


class Examples(Strict):
    match: list[str | Example] = Field(min_length=1)
    no_match: list[str | Example] = Field(min_length=1)


class Rule(Strict):
    id: str
    criterion: str
    name: str
    description: str
    severity: Severity
    weight: float = Field(ge=-100, le=100)
    confidence: Confidence
    message: str = ""
    scope: Literal["page", "site"] = "page"
    match: Matcher
    unless: list[Matcher] = Field(default_factory=list)
    references: list[str] = Field(min_length=1)
    examples: Examples
    tags: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not RULE_ID.match(v):
            raise ValueError("id must be upper-case words joined by '-', e.g. RX-NO-PRESCRIPTION")
        return v

    @field_validator("criterion")
    @classmethod
    def _known_criterion(cls, v: str) -> str:
        if v not in CRITERIA:
            raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}")
        return v

    @field_validator("weight")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("weight must be non-zero: positive for legitimacy, negative against")
        return v


class RuleFile(Strict):
    rules: list[dict[str, Any]]


class CriterionConfig(Strict):
    label: str
    description: str = ""
    scale: float = Field(30.0, gt=0)  # total weight at which the score is ~88 (tanh(1))


class VerdictConfig(Strict):
    legitimate_min_score: int = Field(70, ge=0, le=100)
    legitimate_requires_met: list[str] = Field(default_factory=list)
    rogue_max_score: int = Field(30, ge=0, le=100)
    rogue_on_red_flag_severity: list[Severity] = Field(default_factory=lambda: [Severity.critical])
    red_flag_min_severity: Severity = Severity.high
    seller_min_weight: float = 1.0  # below this, the site sells no medicines: not_pharmacy


class ScoringConfig(Strict):
    rules_version: str
    confidence_factor: dict[Confidence, float]
    overall_scale: float = Field(40.0, gt=0)
    criteria: dict[str, CriterionConfig]
    verdict: VerdictConfig

    @field_validator("criteria")
    @classmethod
    def _known(cls, v: dict[str, CriterionConfig]) -> dict[str, CriterionConfig]:
        unknown = set(v) - set(CRITERIA)
        if unknown:
            raise ValueError(f"unknown criteria {sorted(unknown)}")
        return v


class SealIssuer(Strict):
    id: str
    name: str
    domains: list[str]  # registrable domains of the issuer's verification pages
    words: list[str]  # words in seal image src/alt/title or link text that name the issuer
    # Shapes of a verification link (literal text): "{domain}" stands for the checked site's
    # domain, "{id}" for a register number. Several shapes may be given.
    verify: str | list[str] = ""
    # A register list in rules/data/registers.yaml whose domains and link shapes this issuer
    # also accepts (the EU common logo links to the register of the seller's member state).
    registers: str = ""
    references: list[str] = Field(default_factory=list)


class SealData(Strict):
    issuers: list[SealIssuer]


class Register(Strict):
    """A national register of pharmacies or online sellers, and the shape of its entry links."""

    country: str
    authority: str
    domains: list[str]
    verify: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)


class RuleSetData(BaseModel):
    """Reference data shipped in rules/data/: named lists, drugs, seal issuers, registers."""

    lists: dict[str, list[str]] = Field(default_factory=dict)
    registers: dict[str, list[Register]] = Field(default_factory=dict)
    drugs: DrugLexicon = Field(default_factory=DrugLexicon)
    seals: SealData = Field(default_factory=lambda: SealData(issuers=[]))
