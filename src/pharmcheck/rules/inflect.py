"""Lemma phrases: words written as lemmas in braces match every inflected form.

A text matcher's `lemmas: ["{rezept} {einlösen}", "bez {recepta}"]` matches "Rezepte
einlösen", "Rezept eingelöst"... and "bez recepty": each braced word stands for all the forms
whose lemma it is. Lemmatising every word of every page at run time would cost far more than
the 2 ms a page allows; instead the forms are known in advance and the expanded phrases join
the rule set's one Aho-Corasick automaton, so matching an inflected form costs nothing extra.

The forms come from simplemma's dictionaries (de, fr, es, it, nl, pl, pt, sv), inverted for
the braced words the rules use only, and are kept in `rules/data/inflections.yaml`: loading
those dictionaries takes seconds per language, far too long for every rule load. Regenerate
the file after adding or changing a lemma phrase (pharmcheck/rules/lemmatables.py):

    python -m pharmcheck.rules.lemmatables [RULES_DIR]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping

MAX_FORMS_PER_PHRASE = 200  # a phrase of three braced words with many forms stays bounded
_BRACED = re.compile(r"\{([^{}\s]+)\}")


def braced_words(phrase: str) -> list[str]:
    """The lemmas a phrase marks with braces, lower-cased."""
    return [w.lower() for w in _BRACED.findall(phrase)]


def expand(phrase: str, forms: Mapping[str, list[str]]) -> list[str]:
    """Every spelling of a lemma phrase: each braced word replaced by itself and each of its
    forms (at most MAX_FORMS_PER_PHRASE combinations, the lemma's own first)."""
    parts: list[list[str]] = []
    for piece in re.split(r"(\{[^{}\s]+\})", phrase.strip()):
        m = _BRACED.fullmatch(piece)
        if m:
            lemma = m.group(1).lower()
            parts.append([lemma] + [f for f in forms.get(lemma, []) if f != lemma])
        elif piece:
            parts.append([piece.lower()])
    out = ["".join(combo) for combo in itertools.islice(itertools.product(*parts), MAX_FORMS_PER_PHRASE)]
    return list(dict.fromkeys(" ".join(p.split()) for p in out))


def invert(dictionary: Iterable[tuple[str, str]], lemmas: set[str]) -> dict[str, list[str]]:
    """{lemma: its forms} for the given lemmas, from (form, lemma) pairs."""
    found: dict[str, set[str]] = {}
    for form, lemma in dictionary:
        low = lemma.lower()
        if low in lemmas:
            found.setdefault(low, set()).add(form.lower())
    return {lemma: sorted(found.get(lemma, set()) - {lemma}) for lemma in sorted(lemmas)}
