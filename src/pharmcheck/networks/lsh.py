"""Banded MinHash LSH: which sites' templates may be near-identical, without all pairs.

The same index as datasketch's `MinHashLSH` (Leskovec, Rajaraman, Ullman, *Mining of Massive
Datasets*, ch. 3): a signature of NUM_PERM values is cut into `bands` bands of `rows` values,
and two sites are candidates when any band is identical. `bands` and `rows` are chosen as
datasketch chooses them, minimising the equally weighted false-positive and false-negative
areas under the S-curve, so the candidates are the same (tests/test_networks.py holds the
two to the same parameters and candidates). Written here in numpy because importing
datasketch's LSH loads scipy for that integral: about 0.8 s of CPU at the end of every audit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

# Gauss-Legendre nodes on [0, 1]: the S-curve 1 - (1 - s^r)^b is smooth, and 256 nodes integrate
# it to ~1e-12, far below the gap between two parameter choices' errors.
_NODES = 256


@lru_cache(maxsize=1)
def _unit_nodes() -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(_NODES)
    return (x + 1) / 2, w / 2


def _integral(bands: int, rows: int, low: float, high: float, positive: bool) -> float:
    """The area of P(candidate) on [low, high] (positive) or of P(missed) (not positive)."""
    x, w = _unit_nodes()
    s = low + (high - low) * x
    candidate = 1 - (1 - s**rows) ** bands
    return float((high - low) * np.dot(w, candidate if positive else 1 - candidate))


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising false positives below
    `threshold` plus false negatives above it, each weighted 0.5."""
    best, choice = float("inf"), (0, 0)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            error = 0.5 * _integral(bands, rows, 0.0, threshold, True) + 0.5 * _integral(bands, rows, threshold, 1.0, False)
            if error < best:
                best, choice = error, (bands, rows)
    return choice


class BandedIndex:
    """Signatures (arrays of num_perm unsigned ints) by integer key; `query` gives the keys sharing a
    band with a signature."""

    def __init__(self, threshold: float, num_perm: int) -> None:
        self.num_perm = num_perm
        self.bands, self.rows = optimal_bands(threshold, num_perm)
        self._tables: list[defaultdict[bytes, list[int]]] = [defaultdict(list) for _ in range(self.bands)]

    def _keys(self, signature: Iterable[int] | np.ndarray) -> list[bytes]:
        values = np.asarray(signature, dtype=np.uint64)
        if values.shape != (self.num_perm,):
            raise ValueError(f"expected a signature of {self.num_perm} values, got {values.shape}")
        return [values[b * self.rows : (b + 1) * self.rows].tobytes() for b in range(self.bands)]

    def insert(self, key: int, signature: Iterable[int] | np.ndarray) -> None:
        for table, band in zip(self._tables, self._keys(signature), strict=True):
            table[band].append(key)

    def query(self, signature: Iterable[int] | np.ndarray) -> set[int]:
        found: set[int] = set()
        for table, band in zip(self._tables, self._keys(signature), strict=True):
            found.update(table.get(band, ()))
        return found
