"""Fetch stage: get a site's pages from the network or from a WARC archive.

- `guard`: SSRF protection;  `content`: capped decompression, binary sniffing;
- `live`: HTTP transport (timeouts, watchdog, retries);  `archive`: WARC record/replay;
- `policy`: which links to crawl, robots.txt;  `site`: one site's session (deadline, redirects).
"""

from __future__ import annotations

from pharmcheck.fetch.archive import ArchiveIndex, ArchiveTransport, WarcRecorder
from pharmcheck.fetch.base import Deadline, Transport
from pharmcheck.fetch.live import DEFAULT_USER_AGENT, HostLimiter, LiveTransport
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


def make_transport(
    options: FetchOptions,
    archive: ArchiveIndex | None = None,
    save_warc: str | None = None,
    limiter: HostLimiter | None = None,
) -> Transport:
    """The transport for one site: replayed from `archive`, or live (recorded to `save_warc`)."""
    transport: Transport = ArchiveTransport(archive, options.max_bytes) if archive is not None else LiveTransport(options, limiter)
    if save_warc:
        transport = WarcRecorder(transport, save_warc, options.user_agent or DEFAULT_USER_AGENT)
    return transport
