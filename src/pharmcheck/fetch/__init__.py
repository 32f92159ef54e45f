"""Fetch stage: get a site's pages from the network or from a WARC archive.

- `guard`: SSRF protection;  `content`: capped decompression, binary sniffing;
- `live`: HTTP transport (timeouts, watchdog, retries);  `archive`: WARC record/replay;
- `policy`: which links to crawl, robots.txt;  `site`: one site's session (deadline, redirects).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pharmcheck.fetch.archive import ArchiveIndex, ArchiveTransport, WarcRecorder
from pharmcheck.fetch.base import DEFAULT_USER_AGENT, Deadline, Transport
from pharmcheck.fetch.policy import CrawlFrontier
from pharmcheck.fetch.site import SiteFetcher
from pharmcheck.models import FetchOptions

__all__ = [
    "DEFAULT_USER_AGENT",
    "ArchiveIndex",
    "ArchiveTransport",
    "CrawlFrontier",
    "Deadline",
    "HostLimiter",
    "LiveTransport",
    "SiteFetcher",
    "Transport",
    "WarcRecorder",
    "make_transport",
]

if TYPE_CHECKING:
    from pharmcheck.fetch.live import HostLimiter, LiveTransport

# live.py imports requests and urllib3 (~50 ms), which replaying a capture never uses: it is
# imported when one of its names is first asked for (PEP 562).
_LIVE_NAMES = frozenset({"HostLimiter", "LiveTransport"})


def __getattr__(name: str) -> Any:
    if name in _LIVE_NAMES:
        from pharmcheck.fetch import live

        return getattr(live, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_transport(
    options: FetchOptions,
    archive: ArchiveIndex | None = None,
    save_warc: str | None = None,
    limiter: HostLimiter | None = None,
) -> Transport:
    """The transport for one site: replayed from `archive`, or live (recorded to `save_warc`)."""
    if archive is not None:
        transport: Transport = ArchiveTransport(archive, options.max_bytes)
    else:
        from pharmcheck.fetch.live import LiveTransport

        transport = LiveTransport(options, limiter)
    if save_warc:
        transport = WarcRecorder(transport, save_warc, options.user_agent or DEFAULT_USER_AGENT)
    return transport
