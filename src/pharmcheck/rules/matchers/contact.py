"""`contact`: the e-mail addresses and phone numbers extraction found on the page."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from pharmcheck.models import Evidence
from pharmcheck.rules.data import Strict, StrList
from pharmcheck.rules.matchers.base import CompileContext, Compiled, MatcherKind, register
from pharmcheck.rules.page import Page


class ContactMatcher(Strict):
    """Contact details found by extraction (e-mail addresses, phone numbers)."""

    email: bool | None = None  # True: at least one e-mail address on the page
    phone: bool | None = None  # True: at least one phone number on the page
    email_domain: StrList = Field(default_factory=list)  # an e-mail address at one of these domains


@dataclass
class ContactC(Compiled):
    email: bool | None
    phone: bool | None
    email_domains: frozenset[str]

    def on_page(self, page: Page) -> list[Evidence] | None:
        emails, phones = page.facts.emails, page.facts.phones
        if self.email is not None and bool(emails) != self.email:
            return None
        if self.phone is not None and bool(phones) != self.phone:
            return None
        if self.email_domains:
            emails = [e for e in emails if e.rsplit("@", 1)[-1] in self.email_domains]
            if not emails:
                return None
        shown = [f"e-mail {e}" for e in emails[:3]] + [f"phone {p}" for p in phones[:3] if self.phone]
        return [Evidence(url=page.facts.url, text="; ".join(shown) or "no contact details")]


def compile_contact(c: ContactMatcher, ctx: CompileContext) -> ContactC:
    return ContactC(c.email, c.phone, frozenset(d.lower() for d in ctx.expand(c.email_domain)))


register(MatcherKind(
    name="contact",
    options=ContactMatcher,
    compile=compile_contact,
    matches="extracted contact details: `email`, `phone` present, or an `email_domain` (e.g. `@free_email_domains`)",
    evidence="the addresses and numbers",
))
