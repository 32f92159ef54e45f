"""`domain`: the site's host name (its top-level domain, or a regex over it)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from pharmcheck.models import Evidence
from pharmcheck.rules.data import Strict, StrList
from pharmcheck.rules.matchers.base import CompileContext, Compiled, MatcherKind, register
from pharmcheck.rules.page import Page
from pharmcheck.rules.textsearch import Searcher, regex_union
from pharmcheck.urls import fast_host


class DomainMatcher(Strict):
    tld: list[str] = Field(default_factory=list)  # e.g. ["pharmacy"]
    regex: StrList = Field(default_factory=list)  # over the host name


@dataclass
class DomainC(Compiled):
    tlds: frozenset[str]
    host_re: Searcher | None  # RE2

    def on_page(self, page: Page) -> list[Evidence] | None:
        host = fast_host(page.facts.url)
        if self.tlds and host.rsplit(".", 1)[-1] not in self.tlds:
            return None
        if self.host_re is not None and not self.host_re.search(host):
            return None
        return [Evidence(url=page.facts.url, text=f"domain {host}")]


def compile_domain(m: DomainMatcher, ctx: CompileContext) -> DomainC:
    return DomainC(frozenset(t.lower().lstrip(".") for t in m.tld), regex_union(ctx.expand(m.regex), "domain.regex"))


register(MatcherKind(
    name="domain",
    options=DomainMatcher,
    compile=compile_domain,
    matches="the site's `tld` or a host-name `regex`",
    evidence="the host",
))
