"""The rule file format, as pydantic models: a rule file that loads is a rule that can run.

The matcher keys and their options come from the matcher registry (rules/matchers/)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, create_model, field_validator, model_validator

from pharmcheck.models import Confidence, Severity, SiteFact

# Reference data models live in rules/data.py; imported here too, where rule code has found them.
from pharmcheck.rules.data import Register, RuleSetData, SealData, SealIssuer, Strict, StrList
from pharmcheck.rules.matchers import MATCHER_KINDS

RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")

class _MatcherBase(Strict):
    """Exactly one of the keys below."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    @model_validator(mode="after")
    def _one_kind(self) -> _MatcherBase:
        kinds = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a matcher has exactly one kind, got {kinds or 'none'}")
        return self

    @property
    def kind(self) -> str:
        for name in type(self).model_fields:
            if getattr(self, name) is not None:
                return name.removesuffix("_")  # not_, register_: the kind's name
        raise AssertionError("validated matcher has a kind")


if TYPE_CHECKING:

    class Matcher(_MatcherBase):
        all: list[Matcher] | None
        any: list[Matcher] | None
        not_: Matcher | None
        fired: list[str] | None

        def __getattr__(self, name: str) -> Any: ...  # one optional field per registered kind

else:
    # One optional field per registered matcher kind (rules/matchers/), in registry order.
    Matcher = create_model(
        "Matcher",
        __base__=_MatcherBase,
        __module__=__name__,
        __doc__=_MatcherBase.__doc__,
        **{
            kind.field: (
                f"{kind.options} | None" if isinstance(kind.options, str) else kind.options | None,
                Field(None, alias=kind.name) if kind.field != kind.name else None,
            )
            for kind in MATCHER_KINDS.values()
        },
    )
    Matcher.model_rebuild()


class Example(Strict):
    html: str = ""  # "" for an example that is only about site facts
    url: str = "https://shop.example-pharmacy.test/"
    # Site facts the example site has (as in a report's `facts`), for rules that match them.
    facts: list[SiteFact] = Field(default_factory=list)


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
    # Languages (ISO 639-1) of the pages the rule looks at; empty: all. Pages detected in
    # another language are skipped; pages whose language could not be told are kept.
    languages: list[str] = Field(default_factory=list)
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

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, v: list[str]) -> list[str]:
        codes = [c.strip().lower() for c in v]
        if any(not (2 <= len(c) <= 3 and c.isalpha()) for c in codes):
            raise ValueError("languages are ISO 639-1 codes such as de, fr")
        return codes

    @field_validator("weight")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("weight must be non-zero: positive for legitimacy, negative against")
        return v


class RuleFile(Strict):
    rules: list[dict[str, Any]]


__all__ = [
    "Confidence", "Example", "Examples", "Matcher", "Register", "Rule", "RuleFile",
    "RuleSetData", "SealData", "SealIssuer", "Severity", "StrList", "Strict",
]
