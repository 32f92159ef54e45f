"""A per-user cache of things that are slow to build and never change for given inputs (the
language model unpacked, compiled rules): `$XDG_CACHE_HOME/pharmcheck` (default
`~/.cache/pharmcheck`; `PHARMCHECK_CACHE_DIR` overrides it, and `PHARMCHECK_CACHE_DIR=off`
turns the cache off).

Entries are named by a key that hashes everything they are built from, so a changed input
finds no entry rather than a stale one. An entry is written under a temporary name and
renamed into place: concurrent writers (audit worker processes) never see a half-written
entry, and the last rename wins with an entry equal to the others. A missing, unreadable or
corrupt entry is ignored (the caller builds the thing again); the cache never makes a run
fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

_log = logging.getLogger("pharmcheck")
T = TypeVar("T")


def cache_dir() -> Path | None:
    """The cache folder, or None when caching is off."""
    override = os.environ.get("PHARMCHECK_CACHE_DIR")
    if override is not None:
        return None if override.strip().lower() in ("", "0", "off", "no", "false") else Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pharmcheck"


def key_of(*parts: str | bytes) -> str:
    """A short hex key for the given inputs (each part length-prefixed: no ambiguity)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:32]


def file_stamp(path: Path) -> str:
    """A file named for a cache key without reading it: its path, size and modification time
    (a library upgraded or a model file replaced changes one of them). OSError if it is gone."""
    stat = path.stat()
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


def cached_dir(name: str, build: Callable[[Path], None], load: Callable[[Path], T]) -> T | None:
    """`load(folder)` of the cache entry `name` (a folder), first building it with
    `build(folder)` if it is missing. None when caching is off or the entry cannot be built or
    read: the caller then builds the thing itself."""
    found = load_entry(name, load)
    if found is not None:
        return found
    entry = store_entry(name, build)
    if entry is None:
        return None
    try:
        return load(entry)
    except Exception as exc:
        _log.debug("cache entry %s not readable: %s", entry, exc)
        return None


def load_entry(name: str, load: Callable[[Path], T]) -> T | None:
    """`load(folder)` of the cache entry `name`, or None if it is missing, caching is off, or
    it cannot be read (a corrupt entry is removed, to be written again)."""
    root = cache_dir()
    if root is None:
        return None
    entry = root / name
    if not entry.is_dir():
        return None
    try:
        return load(entry)
    except Exception as exc:  # corrupt or from an incompatible version: rebuild it
        _log.debug("cache entry %s unreadable (%s); rebuilding it", entry, exc)
        shutil.rmtree(entry, ignore_errors=True)
        return None


def store_entry(name: str, build: Callable[[Path], None]) -> Path | None:
    """Write the cache entry `name` with `build(folder)` (into a temporary folder renamed into
    place; an entry another process put there first is kept). Its folder, or None when
    caching is off or it could not be written."""
    root = cache_dir()
    if root is None:
        return None
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    except OSError as exc:
        _log.debug("cache folder %s not writable: %s", root, exc)
        return None
    try:
        build(staging)
        with contextlib.suppress(OSError):  # another process put the same entry there first: use that one
            os.rename(staging, root / name)
        return root / name if (root / name).is_dir() else None
    except Exception as exc:
        _log.debug("cache entry %s not written: %s", root / name, exc)
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
