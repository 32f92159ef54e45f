"""What every matcher kind provides, and the one registry of kinds.

A kind is registered once, by the module that implements it, with everything the rest of the
tool derives from it: the key in a rule file and its typed options (the rule-file schema), the
function that compiles those options (the compiler), and the two README table cells (the docs).
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from pharmcheck.models import Evidence
from pharmcheck.rules.data import RuleSetData
from pharmcheck.rules.page import Page
from pharmcheck.rules.textsearch import CompileError

# Evidence of the rules that fired so far, by rule id (what `fired` matchers read).
Fired = dict[str, list[Evidence]]


class Compiled:
    """A matcher ready to run: returns evidence, or None when it does not match."""

    def on_page(self, page: Page) -> list[Evidence] | None:
        raise NotImplementedError

    def on_site(self, pages: list[Page], fired: Fired) -> list[Evidence] | None:
        """Site scope: a leaf matches if it matches on any page; combinators combine that."""
        found: list[Evidence] = []
        for page in pages:
            ev = self.on_page(page)
            if ev is not None:
                found.extend(ev)
        return found if found else None


@dataclass
class CompileContext:
    """What a kind's compile function may use besides its own options."""

    data: RuleSetData
    compile_nested: Callable[[Any], Compiled]  # compiles a nested matcher (all/any/not)

    def expand(self, value: list[str] | str, seen: tuple[str, ...] = ()) -> list[str]:
        """A list field's items, with "@name" data lists expanded (they may name others)."""
        out: list[str] = []
        # Plain items are appended here, not through a call each: the shipped rules' fields
        # expand to ~10^4 items, and one call per item was a sixth of loading them.
        for item in [value] if isinstance(value, str) else value:
            if not item.startswith("@"):
                out.append(item)
            else:
                name = item[1:]
                if name not in self.data.lists:
                    raise CompileError(f"unknown data list {item!r} (rules/data/*.yaml)")
                if name in seen:
                    raise CompileError(f"data list {item!r} includes itself")
                out.extend(self.expand(self.data.lists[name], (*seen, name)))
            if len(out) > MAX_FIELD_ITEMS:  # a field naming big lists many times over
                raise CompileError(f"a list field expands to more than {MAX_FIELD_ITEMS:,} items "
                                   f"(at {item!r}); name fewer or smaller lists")
        return out


# Items of one rule field once its "@name" lists are expanded (each list is itself bounded
# when the data loads: rules.load.MAX_LIST_ITEMS).
MAX_FIELD_ITEMS = 200_000


@dataclass(frozen=True)
class MatcherKind:
    name: str  # the key in a rule file
    # What follows the key: a pydantic model or a type; a string for types that name the
    # rule-file Matcher itself ("list[Matcher]"), resolved where that model is built.
    options: Any
    compile: Callable[[Any, CompileContext], Compiled]
    matches: str  # README matcher table: what it matches
    evidence: str  # README matcher table: the evidence it reports
    in_table: bool = True  # all/any/not are described in the prose above the table

    @property
    def field(self) -> str:
        """The attribute on the Matcher model: `not` is a Python keyword and `register` a
        pydantic model's method, so they are `not_` and `register_`."""
        return self.name + "_" if keyword.iskeyword(self.name) or hasattr(BaseModel, self.name) else self.name


MATCHER_KINDS: dict[str, MatcherKind] = {}


def register(kind: MatcherKind) -> MatcherKind:
    if kind.name in MATCHER_KINDS:
        raise ValueError(f"matcher kind {kind.name!r} registered twice")
    MATCHER_KINDS[kind.name] = kind
    return kind


def matcher_table() -> str:
    """The README's matcher table, from the registry."""
    rows = ["| kind | matches | evidence reported |", "|---|---|---|"]
    rows += [f"| `{k.name}` | {k.matches} | {k.evidence} |" for k in MATCHER_KINDS.values() if k.in_table]
    return "\n".join(rows) + "\n"
