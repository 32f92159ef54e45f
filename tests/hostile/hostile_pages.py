"""Hostile page bodies for the analysis-deadline tests and benchmarks/hostile.py: pages made
of the shipped rules' own words (every phrase matcher fires everywhere, no sentence ends),
and pages of tens of thousands of JSON-LD blocks."""

from __future__ import annotations

import random
import re
from pathlib import Path

from pharmcheck.fetch.pagedir import write_warc
from pharmcheck.rules.load import default_rules_dir

# The pages a crawl of the home page goes on to (each names a category policy.py wants).
SUBPAGES = ["about-us", "contact", "faq", "terms", "shipping", "payment", "reviews", "privacy", "how-to-order"]


def rule_words(rules_dir: Path | None = None) -> list[str]:
    """Plain-word phrases of the rule files and data lists."""
    root = rules_dir or default_rules_dir()
    words: set[str] = set()
    for path in root.rglob("*.yaml"):
        for listed in re.findall(r"\[([^\]]*)\]", path.read_text(encoding="utf-8")):
            for item in listed.split(","):
                item = item.strip().strip("\"'")
                if re.fullmatch(r"[a-z][a-z \-]{2,40}", item):
                    words.add(item)
    return sorted(words)


def word_soup(size: int, seed: int = 0) -> str:
    """`size` characters of rule words, one paragraph, no full stop."""
    rnd = random.Random(seed)
    words = rule_words()
    out: list[str] = []
    length = 0
    while length < size:
        word = rnd.choice(words)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)


def word_soup_site(path: Path, base: str, page_chars: int) -> Path:
    """A capture of a home page and its SUBPAGES, each `page_chars` of rule words."""
    links = " ".join(f'<a href="{base}{name}">{name.replace("-", " ")}</a>' for name in SUBPAGES)
    pages = []
    for i, name in enumerate(["", *SUBPAGES]):
        body = f"<html><head><title>Page {name or 'home'}</title></head><body><nav>{links}</nav>" \
               f"<p>{word_soup(page_chars, seed=i)}</p></body></html>"
        pages.append((base + name, body.encode(), "text/html; charset=utf-8"))
    return write_warc(path, pages)


def jsonld_blocks_page(blocks: int) -> bytes:
    item = ('<script type="application/ld+json">{"@context":"https://schema.org","@type":"Pharmacy",'
            '"name":"Block %d","telephone":"+1 555 0100","review":{"@type":"Review","author":"a"}}</script>')
    scripts = "".join(item % i for i in range(blocks))
    return (f"<html><head><title>JSON-LD</title>{scripts}</head><body><p>A pharmacy.</p></body></html>").encode()
