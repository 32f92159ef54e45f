"""Reference data of a rules folder (`rules/data/*.yaml`: named lists, drugs, seal issuers,
registers) and the strict model base every rule-file model uses."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pharmcheck.models import DrugLexicon

StrList = list[str] | str  # a list, or "@name" naming a list in rules/data/


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
