"""One site's fetching session: transport + deadline + redirects + robots.txt."""

from __future__ import annotations

import logging
import time

from pharmcheck.fetch.base import DEFAULT_USER_AGENT, Deadline, Transport, error_response, follow_redirects
from pharmcheck.fetch.content import sniff_binary
from pharmcheck.fetch.policy import Robots
from pharmcheck.models import ErrorCode, FetchError, FetchOptions, Response
from pharmcheck.urls import robots_url

_log = logging.getLogger("pharmcheck")
ROBOTS_MAX_REDIRECTS = 5  # RFC 9309 2.3.1.2: follow at least five
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 2.5: parse at least 500 KiB


class SiteFetcher:
    """Fetches pages of one site within its deadline, obeying robots.txt unless told not to."""

    def __init__(self, transport: Transport, options: FetchOptions, start_url: str,
                 deadline: Deadline | None = None) -> None:
        self.transport = transport
        self.options = options
        self.deadline = deadline or Deadline(options.site_timeout)
        self.user_agent = options.user_agent or DEFAULT_USER_AGENT
        self._robots: Robots | None = None
        self.robots_url = robots_url(start_url)

    def robots(self) -> Robots:
        """The site's robots.txt, fetched once (an allow-all stand-in with --ignore-robots)."""
        if self._robots is None:
            self._robots = Robots(None, self.user_agent) if self.options.ignore_robots else self._fetch_robots()
        return self._robots

    def _fetch_robots(self) -> Robots:
        resp = follow_redirects(self.transport, self.robots_url, self.deadline, ROBOTS_MAX_REDIRECTS)
        if resp.status >= 500:
            return Robots(None, self.user_agent, disallow_all=True,
                          reason=f"robots.txt answered HTTP {resp.status}, which means disallow all (RFC 9309)")
        if resp.status == 200 and (not resp.error or resp.error.code == ErrorCode.too_large):
            body = resp.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
            return Robots(body, self.user_agent)
        # 4xx, or no answer at all: allowed. An unreachable site shows its real error on the
        # first page rather than a robots.txt one.
        return Robots(None, self.user_agent)

    def get(self, url: str) -> Response:
        if not self.options.ignore_robots and not self.robots().allowed(url):
            robots = self.robots()
            why = robots.reason or "robots.txt disallows " + ("the whole site" if robots.disallows_all else "this page")
            return error_response(url, ErrorCode.robots, f"{why} (use --ignore-robots to check it anyway)")
        started = time.monotonic()
        resp = follow_redirects(self.transport, url, self.deadline, self.options.max_redirects)
        if _log.isEnabledFor(logging.DEBUG):
            outcome = f"error {resp.error.code.value}" if resp.error else f"HTTP {resp.status}"
            moved = f" -> {resp.final_url}" if resp.final_url != url else ""
            _log.debug("GET %s%s: %s, %d bytes, %.0f ms", url, moved, outcome, len(resp.body),
                       1000 * (time.monotonic() - started))
        return _refuse_binary(resp)

    def close(self) -> None:
        self.transport.close()


def _refuse_binary(resp: Response) -> Response:
    """A binary file served as a web page is recorded as what it is, not parsed as HTML."""
    if resp.error is not None or not resp.body or not resp.is_html:
        return resp
    kind = sniff_binary(resp.body)
    if kind is None:
        return resp
    declared = resp.content_type.split(";")[0].strip() or "no content type"
    message = f"served as {declared} but the body is {kind}: recorded, not parsed"
    return resp.model_copy(update={"error": FetchError(code=ErrorCode.not_html, url=resp.url, message=message)})
