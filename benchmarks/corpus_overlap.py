"""Find corpus text copied into the repository.

The labelled corpora are real sites' text: rules and tests must be written in our own words
(a rule that quotes a site fits that site, not the class of sites). This prints every run of
`--words N` (default 10) or more consecutive words that a repository text file (rules, tests,
examples, docs) shares with a corpus page, and exits 1 if there is any, 0 if none.

    python benchmarks/corpus_overlap.py [--words N] [CORPUS_DIR...]   (default: shared dev + train)

Words are compared lower-cased, punctuation dropped, so a copy with different spacing or
capitals is still found. Ten words is longer than the legal and regulatory formulas that
every pharmacy shares ("we are registered with the General Pharmaceutical Council,
registration number" is nine), shorter than any copied sentence worth the name.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

from lxml import html as lxml_html

from corpus import CV_CORPORA

REPO = Path(__file__).resolve().parent.parent
# What we write: the rules and their data, the tests and fixtures, the bundled examples, docs.
REPO_GLOBS = ("rules/**/*.yaml", "tests/**/*.py", "tests/**/*.html", "examples/**/*.html", "*.md", "benchmarks/*.md")
# Fitted parameters are words' weights, not sentences; they are checked by the fit, not here.
SKIP = {"rules/model.yaml"}
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def runs(tokens: list[str], n: int) -> Iterator[str]:
    for i in range(len(tokens) - n + 1):
        yield " ".join(tokens[i : i + n])


def corpus_runs(roots: list[Path], n: int) -> dict[str, str]:
    """Every n-word run of the corpora's page text, with the site (folder name) it comes from."""
    found: dict[str, str] = {}
    for root in roots:
        for page in sorted(root.glob("*/pages/**/*.html")):
            site = page.relative_to(root).parts[0]
            try:
                text = lxml_html.fromstring(page.read_bytes()).text_content()
            except (ValueError, lxml_html.etree.ParserError):
                continue
            for run in runs(words(text), n):
                found.setdefault(run, site)
    return found


def overlaps(roots: list[Path], n: int) -> list[tuple[str, str, str]]:
    """(repository file, longest shared passage, corpus site), one line per passage: runs that
    overlap in the file are joined, so a copied sentence is reported once, whole."""
    corpus = corpus_runs(roots, n)
    out: list[tuple[str, str, str]] = []
    for pattern in REPO_GLOBS:
        for path in sorted(REPO.glob(pattern)):
            name = path.relative_to(REPO).as_posix()
            if name in SKIP:
                continue
            tokens = words(path.read_text(encoding="utf-8", errors="replace"))
            starts = [i for i, run in enumerate(runs(tokens, n)) if run in corpus]
            seen: set[str] = set()
            for first, last in _spans(starts):
                passage = " ".join(tokens[first : last + n])
                if passage not in seen:
                    seen.add(passage)
                    out.append((name, passage, corpus[" ".join(tokens[first : first + n])]))
    return out


def _spans(starts: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive run starts joined into (first, last) spans."""
    if not starts:
        return
    first = last = starts[0]
    for i in starts[1:]:
        if i != last + 1:
            yield first, last
            first = i
        last = i
    yield first, last


def main(argv: list[str]) -> int:
    n = 10
    if "--words" in argv:
        i = argv.index("--words")
        try:
            n = int(argv[i + 1])
        except (IndexError, ValueError):
            print("corpus_overlap: --words needs a whole number", file=sys.stderr)
            return 2
        if n < 2:
            print("corpus_overlap: --words must be at least 2", file=sys.stderr)
            return 2
        argv = argv[:i] + argv[i + 2 :]
    roots = [Path(a) for a in argv] or CV_CORPORA
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        print(f"corpus_overlap: no corpus folder {', '.join(missing)}", file=sys.stderr)
        return 2
    found = overlaps(roots, n)
    for name, run, site in found:
        print(f"{name}: {run!r} (corpus site {site})")
    print(f"{len(found)} passages of {n} or more words shared with the corpus")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
