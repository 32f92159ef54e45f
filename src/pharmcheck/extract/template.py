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
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

NUM_PERM = 128  # similarity estimated within ~0.04 at J=0.85 (binomial spread), 1 KB a site
SEED = 13
SCHEME = "affine32"  # datasketch's permutation scheme; stored signatures depend on it
# MurmurHash3's 32-bit finalizer, datasketch's pre-mix of every input hash in "affine32".
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
_MAX32 = np.uint32(0xFFFFFFFF)
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
    found = _dom_shingles(root)
    blank = frozenset(title.lower().split())
    # The first MAX_TEXT_WORDS words only: splitting (and lower-casing) a long page whole
    # made thousands of words to drop. They are lower-cased together, in one call (lower-
    # casing never makes or unmakes a space, so the words stay the same words).
    words = " ".join(text.split(None, MAX_TEXT_WORDS)[:MAX_TEXT_WORDS]).lower().split()
    if not blank.isdisjoint(words):
        words = ["_" if w in blank else w for w in words]
    # Runs of three, each distinct run once (boilerplate repeats them: zip and set are C); words
    # hold no space, so distinct runs are distinct "a b c" strings, and the "t:" before each is
    # written by the join in _hash_all rather than by formatting every run in Python.
    runs = list(map(" ".join, set(zip(words, words[1:], words[2:], strict=False))))
    return _hash_all(found, runs)


def _dom_shingles(root: Any) -> set[str]:
    """The DOM-path shingles of the first MAX_ELEMENTS nodes of `root.iter()` (comments and
    processing instructions count, and are skipped): "d:" + the labels ("tag" or "tag.class")
    of a node's grandparent, parent and itself, joined by ">", as far as `root` goes up.

    A depth-first walk of the children, one stack frame per open element holding its
    iterator, the prefix of its children's paths and its label: document order as
    `root.iter()` gives it, without asking each node for its parent and looking that up in
    a dict of the paths so far (~20% of this loop on a listing). tests/test_extract.py
    holds it to that dict walk on generated and hostile trees."""
    found: set[str] = set()
    tag = root.tag
    if not isinstance(tag, str):
        return found  # a comment or PI has no children: nothing else to visit
    classes = root.get("class")
    label = f"{tag}.{classes}" if classes else tag
    found.add("d:" + label)
    add = found.add
    left = MAX_ELEMENTS - 1  # root was the first
    # (children not visited yet, "d:" + the path of their parent + ">", their parent's label)
    stack: list[tuple[Iterator[Any], str, str]] = [(iter(root), "d:" + label + ">", label)]
    while stack:
        children, prefix, parent = stack[-1]
        for el in children:
            if not left:
                return found
            left -= 1
            tag = el.tag
            if not isinstance(tag, str):
                continue  # comments, processing instructions (counted above)
            classes = el.get("class")
            label = f"{tag}.{classes}" if classes else tag
            add(prefix + label)
            if len(el):  # its children come next in document order, then the rest of these
                stack.append((iter(el), "d:" + parent + ">" + label + ">", label))
                break
        else:
            stack.pop()
    return found


def _hash_all(shingles: set[str], text_runs: Sequence[str] = ()) -> frozenset[int]:
    """{_hash(s) for s in shingles} | {_hash("t:" + run) for run in text_runs}, encoded in one
    call: NUL, which no shingle holds (parse_html removes it from pages), separates them."""
    if not shingles and not text_runs:
        return frozenset()
    joined = "\x00".join(shingles)
    if text_runs:
        joined = (joined + "\x00t:" if shingles else "t:") + "\x00t:".join(text_runs)
    if joined.count("\x00") != len(shingles) + len(text_runs) - 1:
        return frozenset(_hash(shingle) for shingle in [*shingles, *("t:" + run for run in text_runs)])
    return frozenset(map(zlib.crc32, joined.encode("utf-8", "surrogatepass").split(b"\x00")))


@lru_cache(maxsize=1)
def _permutations() -> tuple[Any, Any]:
    """datasketch's affine32 permutations for NUM_PERM and SEED: h -> a * h + b mod 2^32, odd a."""
    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def site_signature(pages: Iterable[frozenset[int]]) -> list[int]:
    """The MinHash of a site's shingles (every page), as a list of NUM_PERM ints; [] for none.

    The values of datasketch's `MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32")`
    fed the shingle hashes, computed here in numpy: importing datasketch costs a check
    ~0.3 s (it loads scipy), for a few lines of arithmetic. tests/test_networks.py holds the
    two to the same values."""
    union: set[int] = set()
    for shingles in pages:
        union |= shingles
    if not union:
        return []
    hv = np.fromiter(union, dtype=np.uint32, count=len(union))
    s1, m1, s2, m2, s3 = _FMIX32
    hv ^= hv >> s1
    hv *= m1
    hv ^= hv >> s2
    hv *= m2
    hv ^= hv >> s3
    a, b = _permutations()
    # One row per permutation (NUM_PERM x shingles), computed in place and reduced along its
    # rows: the minimum of each permutation over contiguous memory, ~3x faster on a site of
    # thousands of shingles than columns of a shingles x NUM_PERM array and its temporaries.
    permuted = np.multiply.outer(a, hv)
    permuted += b.reshape(-1, 1)
    return np.minimum(permuted.min(axis=1), _MAX32).tolist()


def similarity(a: list[int], b: list[int]) -> float:
    """Estimated Jaccard similarity of two sites' shingle sets."""
    if not a or len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(np.asarray(a, dtype=np.uint64) == np.asarray(b, dtype=np.uint64)) / len(a))
