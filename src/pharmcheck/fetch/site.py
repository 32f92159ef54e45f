"""One site's fetching session: transport + deadline + redirects + robots.txt."""

from __future__ import annotations

from pharmcheck.fetch.base import Deadline, Transport, error_response, follow_redirects
from pharmcheck.fetch.live import DEFAULT_USER_AGENT
from pharmcheck.fetch.policy import Robots
from pharmcheck.models import ErrorCode, FetchOptions, Response


class SiteFetcher:
    """Fetches pages of one site within its deadline, obeying robots.txt unless told not to."""

    def __init__(self, transport: Transport, options: FetchOptions, start_url: str) -> None:
        self.transport = transport
        self.options = options
        self.deadline = Deadline(options.site_timeout)
        self.user_agent = options.user_agent or DEFAULT_USER_AGENT
        self._robots: Robots | None = None
        self.robots_url = start_url.split("://", 1)[0] + "://" + start_url.split("://", 1)[1].split("/", 1)[0] + "/robots.txt"

    def robots(self) -> Robots:
        if self._robots is None:
            body = None
            if not self.options.ignore_robots:
                resp = follow_redirects(self.transport, self.robots_url, self.deadline, self.options.max_redirects)
                if resp.status == 200 and not resp.error:
                    body = resp.body.decode("utf-8", errors="replace")
            self._robots = Robots(body, self.user_agent)
        return self._robots

    def get(self, url: str) -> Response:
        if not self.options.ignore_robots and not self.robots().allowed(url):
            return error_response(url, ErrorCode.robots, "robots.txt disallows this page (use --ignore-robots)")
        return follow_redirects(self.transport, url, self.deadline, self.options.max_redirects)

    def close(self) -> None:
        self.transport.close()
