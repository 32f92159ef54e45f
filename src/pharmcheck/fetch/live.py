"""Live HTTP transport: requests, one Session per site, bodies streamed and capped."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError

from pharmcheck import TOOL_NAME, TOOL_URL, __version__
from pharmcheck.fetch import guard
from pharmcheck.fetch.base import Deadline, error_response
from pharmcheck.models import ErrorCode, FetchOptions, Response

DEFAULT_USER_AGENT = f"{TOOL_NAME}/{__version__} (+{TOOL_URL}; online pharmacy legitimacy checker)"
CHUNK = 64 * 1024


class HostLimiter:
    """At most `per_host` requests in flight to one host, across every site and thread."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._lock = threading.Lock()
        self._sems: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(self.per_host)
        )

    def semaphore(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            return self._sems[host]


class LiveTransport:
    def __init__(self, options: FetchOptions, limiter: HostLimiter | None = None) -> None:
        self.options = options
        self.limiter = limiter or HostLimiter(options.per_host)
        self.session = requests.Session()  # honours HTTP(S)_PROXY / NO_PROXY (trust_env)
        self.session.headers["User-Agent"] = options.user_agent or DEFAULT_USER_AGENT
        self.session.headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
        self.session.headers["Accept-Encoding"] = "gzip, deflate"
        self.session.max_redirects = 0

    def close(self) -> None:
        self.session.close()

    def exchange(self, url: str, deadline: Deadline) -> Response:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not self.options.allow_private:
            try:
                guard.check_host(host, parts.port or (443 if parts.scheme == "https" else 80))
            except guard.Unresolvable as exc:
                return error_response(url, ErrorCode.dns, str(exc))
            except guard.Blocked as exc:
                return error_response(url, ErrorCode.blocked_private, f"refused by the SSRF guard: {exc}")
        sem = self.limiter.semaphore(host)
        if not sem.acquire(timeout=max(deadline.remaining(), 0.001)):
            return error_response(url, ErrorCode.deadline, "site deadline reached waiting for a connection")
        try:
            return self._exchange(url, deadline)
        finally:
            sem.release()

    def _exchange(self, url: str, deadline: Deadline) -> Response:
        started = time.monotonic()
        limit = min(self.options.timeout, max(deadline.remaining(), 0.001))
        try:
            resp = self.session.get(url, stream=True, allow_redirects=False, timeout=(limit, limit))
        except requests.RequestException as exc:
            code, message = classify_exception(exc)
            return error_response(url, code, message)
        try:
            headers = {k.lower(): v for k, v in resp.headers.items()}
            content_type = headers.get("content-type", "")
            body, truncated, error = b"", False, None
            if resp.status_code not in (301, 302, 303, 307, 308) and _wants_body(content_type):
                body, truncated, error = self._read_body(resp, deadline)
            result = Response(
                url=url,
                final_url=url,
                status=resp.status_code,
                headers=headers,
                content_type=content_type,
                body=body,
                truncated=truncated,
                elapsed=time.monotonic() - started,
            )
            if error is not None:
                result.error = error_response(url, *error).error
            return result
        finally:
            resp.close()

    def _read_body(
        self, resp: requests.Response, deadline: Deadline
    ) -> tuple[bytes, bool, tuple[ErrorCode, str] | None]:
        chunks: list[bytes] = []
        size = 0
        cap = self.options.max_bytes
        try:
            while True:
                # read1 returns what one recv gave: a drip-feeding server cannot hold us in
                # one read past the deadline (the read timeout bounds each recv).
                chunk = resp.raw.read1(CHUNK, decode_content=True)
                if not chunk:
                    return b"".join(chunks), False, None
                chunks.append(chunk)
                size += len(chunk)
                if size >= cap:
                    return b"".join(chunks)[:cap], True, None
                if deadline.expired():
                    return b"".join(chunks), True, (ErrorCode.deadline, "site deadline reached while reading")
        except Exception as exc:
            code, message = classify_exception(exc)
            return b"".join(chunks), True, (code, message)


def _wants_body(content_type: str) -> bool:
    ct = content_type.lower()
    return not ct or "html" in ct or ct.startswith("text/")


def classify_exception(exc: BaseException) -> tuple[ErrorCode, str]:
    """Map a requests/urllib3 exception to an error kind and a readable reason."""
    text = str(exc)
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__ or (cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None)
    reason = getattr(exc, "reason", None) or (exc.args[0] if exc.args else None)
    if isinstance(reason, BaseException):
        chain.append(reason)
        inner = getattr(reason, "reason", None)
        if isinstance(inner, BaseException):
            chain.append(inner)
    if any(isinstance(e, guard.Blocked) for e in chain):
        blocked = next(e for e in chain if isinstance(e, guard.Blocked))
        return ErrorCode.blocked_private, f"refused by the SSRF guard: {blocked}"
    if isinstance(exc, requests.exceptions.SSLError):
        return ErrorCode.tls, "TLS error: " + _tls_reason(text)
    if isinstance(exc, requests.exceptions.Timeout) or any(isinstance(e, TimeoutError) for e in chain):
        return ErrorCode.timeout, "timed out"
    if any(isinstance(e, NameResolutionError) for e in chain) or "Name or service not known" in text:
        return ErrorCode.dns, "DNS lookup failed"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in text:
        return ErrorCode.connection_refused, "connection refused"
    return ErrorCode.connection, f"connection failed: {_short(text)}"


def _tls_reason(text: str) -> str:
    marker = "certificate verify failed:"
    if marker in text:
        return "certificate verify failed: " + text.split(marker, 1)[1].split("(")[0].strip().rstrip(")'\"")
    return _short(text)


def _short(text: str) -> str:
    return text.replace("\n", " ")[:200]
