"""warcio, imported without its optional fsspec.

`warcio.utils` imports fsspec when it is installed (the `dask` extra brings it), and fsspec
imports asyncio: ~45 ms of every process that reads or writes a WARC (`check --replay`, each
audit worker), for warcio's own command-line tools (`fsspec_open`), which pharmcheck never
calls. fsspec is hidden from that one import; whoever imports fsspec later gets it as usual.
"""

from __future__ import annotations

import sys


def _import_warcio() -> None:
    if "warcio.utils" in sys.modules or "fsspec" in sys.modules:
        return
    sys.modules["fsspec"] = None  # type: ignore[assignment]  # makes `import fsspec` raise ImportError
    try:
        import warcio.utils  # noqa: F401
    finally:
        if sys.modules.get("fsspec", 0) is None:
            del sys.modules["fsspec"]


_import_warcio()

from warcio.archiveiterator import ArchiveIterator  # noqa: E402
from warcio.exceptions import ArchiveLoadFailed  # noqa: E402
from warcio.recordloader import ArcWarcRecord  # noqa: E402
from warcio.statusandheaders import StatusAndHeaders  # noqa: E402
from warcio.warcwriter import WARCWriter  # noqa: E402

__all__ = ["ArcWarcRecord", "ArchiveIterator", "ArchiveLoadFailed", "StatusAndHeaders", "WARCWriter"]
