"""What every way of fetching shares: the transport interface, the site deadline, redirects."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from pharmcheck import TOOL_NAME, TOOL_URL, __version__
from pharmcheck.models import ErrorCode, FetchError, Response
from pharmcheck.urls import InvalidURL, normalize_url

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_USER_AGENT = f"{TOOL_NAME}/{__version__} (+{TOOL_URL}; online pharmacy legitimacy checker)"


_PAUSES = threading.Lock()  # module-wide, not per deadline: a Deadline is pickled to analysis processes


class Deadline:
    """A point in time after which a site's work stops, whatever the server does."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self._paused_until = 0.0  # end of the latest pause, so overlapping pauses count once

    def pause(self, started: float, ended: float) -> None:
        """Time from `started` to `ended` (monotonic) did not count: the site waited for a
        network slot of a busy audit, not for its server. The end moves by as much (a second
        thread of the same site waiting at the same time moves it by the part not yet counted)."""
        with _PAUSES:
            started = max(started, self._paused_until)
            if ended > started:
                self.end += ended - started
                self._paused_until = ended

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end


class Transport(Protocol):
    """One HTTP exchange, redirects not followed: live network, or a WARC archive."""

    def exchange(self, url: str, deadline: Deadline) -> Response: ...

    def close(self) -> None: ...


def error_response(url: str, code: ErrorCode, message: str, status: int = 0) -> Response:
    return Response(url=url, final_url=url, status=status, error=FetchError(code=code, url=url, message=message))


def follow_redirects(transport: Transport, url: str, deadline: Deadline, max_redirects: int) -> Response:
    """Fetch `url`, following redirects up to `max_redirects`, recording the chain and stopping loops."""
    chain: list[str] = []
    seen = {url}
    current = url
    while True:
        if deadline.expired():
            resp = error_response(current, ErrorCode.deadline, "site deadline reached before this request")
        else:
            resp = transport.exchange(current, deadline)
        location = resp.headers.get("location")
        if resp.error or resp.status not in REDIRECT_STATUSES or not location:
            return resp.model_copy(update={"url": url, "final_url": current, "redirects": chain})
        chain.append(current)
        try:
            target = normalize_url(location, base=current)
        except InvalidURL as exc:
            code = ErrorCode.unsupported_scheme if "scheme" in str(exc) else ErrorCode.invalid_url
            return _chain_error(url, current, chain, code, f"redirect to {location[:200]!r}: {exc}")
        if target in seen:
            return _chain_error(url, target, chain, ErrorCode.redirect_loop, f"redirect loop back to {target}")
        if len(chain) > max_redirects:
            return _chain_error(
                url, target, chain, ErrorCode.too_many_redirects, f"more than {max_redirects} redirects"
            )
        seen.add(target)
        current = target


def _chain_error(url: str, at: str, chain: list[str], code: ErrorCode, message: str) -> Response:
    return Response(
        url=url, final_url=at, redirects=chain, error=FetchError(code=code, url=url, message=message)
    )
