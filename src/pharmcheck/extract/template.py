"""Template fingerprints: near-identical page structure and boilerplate across sites.

A page becomes a set of shingles: the DOM paths of its elements (tag and class names of an
element and its two ancestors: the markup of the template, unchanged when the operator swaps
the logo, the shop name or the colours, which live in attributes and CSS we ignore) and
three-word runs of its visible text (the boilerplate: shipping, guarantee and FAQ wording).
A site's shingles (all its pages) go into a MinHash; two sites' MinHashes estimate the
Jaccard similarity of their shingle sets, and LSH finds the similar pairs of a whole audit
without comparing every pair.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np
from datasketch import LeanMinHash, MinHash

NUM_PERM = 128  # similarity estimated within ~0.04 at J=0.85 (binomial spread), 1 KB a site
SEED = 13
SCHEME = "affine32"  # datasketch's permutation scheme; stored signatures depend on it
MAX_ELEMENTS = 1000  # elements looked at per page: the template shows in its first ones (header, menus, layout)
MAX_TEXT_WORDS = 1000


def _hash(text: str) -> int:
    # crc32: stable across processes and runs (hash() is salted), and cheap.
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def page_shingles(root: Any, text: str, title: str = "") -> frozenset[int]:
    """Hashed shingles of one parsed page: DOM paths (tag and class attribute of an element
    and its two ancestors), then three-word runs of its text.
    Words of the page title (the shop's name, mostly) are blanked in the text first, so a
    storefront renamed from the same template keeps its boilerplate shingles."""
    # Shingles are gathered as strings (a listing repeats the same paths and phrases: the set
    # keeps each once) and hashed once each at the end.
    found: set[str] = set()
    # Document order visits a parent before its children: each element's path extends its
    # parent's, one dict lookup per element.
    paths: dict[Any, tuple[str, str]] = {}  # element -> (its label, parent label + ">" + its label)
    for count, el in enumerate(root.iter()):
        if count >= MAX_ELEMENTS:
            break
        tag = el.tag
        if not isinstance(tag, str):
            continue  # comments, processing instructions
        classes = el.get("class")
        label = f"{tag}.{classes}" if classes else tag
        parent = paths.get(el.getparent())
        if parent is None:
            paths[el] = (label, label)
            found.add("d:" + label)
            continue
        paths[el] = (label, parent[0] + ">" + label)
        found.add(f"d:{parent[1]}>{label}")
    blank = frozenset(title.lower().split())
    words = [("_" if w in blank else w) for w in text.lower().split()[:MAX_TEXT_WORDS]]
    found.update(f"t:{a} {b} {c}" for a, b, c in zip(words, words[1:], words[2:], strict=False))  # runs of three
    return frozenset(_hash(shingle) for shingle in found)


def _identity(value: int) -> int:
    return value


def site_signature(pages: Iterable[frozenset[int]]) -> list[int]:
    """The MinHash of a site's shingles (every page), as a list of NUM_PERM ints; [] for none."""
    union: set[int] = set()
    for shingles in pages:
        union |= shingles
    if not union:
        return []
    mh = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=_identity, scheme=SCHEME)
    mh.update_batch(np.fromiter(union, dtype=np.uint64, count=len(union)))
    return [int(v) for v in mh.hashvalues]


def lean(signature: list[int]) -> LeanMinHash:
    return LeanMinHash(seed=SEED, hashvalues=np.asarray(signature, dtype=np.uint64), scheme=SCHEME)


def similarity(a: list[int], b: list[int]) -> float:
    """Estimated Jaccard similarity of two sites' shingle sets."""
    if not a or len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(np.asarray(a, dtype=np.uint64) == np.asarray(b, dtype=np.uint64)) / len(a))
