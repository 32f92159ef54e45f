"""`pharmcheck rules test`: every rule's own examples must match, and its counter-examples must not.

An example is a snippet of text or HTML put on a one-page site and run through extraction
and the whole rule set, so rules that depend on others (`fired`) are tested as they run. An
example may also give the site's `facts` (RDAP, TLS, host name...), for fact matchers.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from pharmcheck.extract import extract_html
from pharmcheck.facts import PROVIDERS, FactEnv, FactTarget
from pharmcheck.fetch.base import Deadline
from pharmcheck.models import FetchOptions, SiteFact, SiteFacts
from pharmcheck.rules import evaluate
from pharmcheck.rules.schema import Example
from pharmcheck.ruleset import RuleSet
from pharmcheck.urls import host_of, registrable_domain


@dataclass
class ExampleResult:
    rule_id: str
    expected: bool  # True: must match
    fired: bool
    example: str

    @property
    def ok(self) -> bool:
        return self.expected == self.fired


def _site(example: str | Example, ruleset: RuleSet) -> SiteFacts:
    ex = example if isinstance(example, Example) else Example(html=example)
    html = ex.html if "<" in ex.html else f"<html><body><p>{escape(ex.html, quote=False)}</p></body></html>"
    page = extract_html(html, ex.url, ruleset.drug_index)
    host = host_of(ex.url)
    domain = registrable_domain(host)
    return SiteFacts(url=ex.url, final_url=ex.url, domain=domain, host=host, pages=[page],
                     facts=_example_facts(ex, host, domain))


def _example_facts(ex: Example, host: str, domain: str) -> list[SiteFact]:
    """The example's own facts, and the ones a check would find without the network (the host
    name's), as a check would: an example at https://cheap-rx-pills.test/ has that host name."""
    given = {f.provider for f in ex.facts}
    offline = FactEnv(options=FetchOptions(offline=True))
    # Only the host name's facts: other providers read the network or the user's registers.
    found = PROVIDERS["hostname"].gather(FactTarget(url=ex.url, host=host, domain=domain), Deadline(60), offline)
    return [*ex.facts, *([found] if found is not None and found.provider not in given else [])]


def run_examples(ruleset: RuleSet, only: set[str] | None = None) -> list[ExampleResult]:
    results: list[ExampleResult] = []
    for cr in ruleset.rules:
        rule = cr.rule
        if only and rule.id not in only:
            continue
        for expected, examples in ((True, rule.examples.match), (False, rule.examples.no_match)):
            for example in examples:
                fired = {f.rule_id for f in evaluate(ruleset.rules, _site(example, ruleset))}
                text = example.html if isinstance(example, Example) else example
                results.append(ExampleResult(rule.id, expected, rule.id in fired, text))
    return results
