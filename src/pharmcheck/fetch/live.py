"""Live HTTP transport: requests, one Session per site, bodies streamed and capped.

Bounds, whatever the server does: each request has connect/read timeouts; a watchdog shuts
the socket when the request's total time or the site deadline is up (a server dripping
headers one byte a second would otherwise hold urllib3 forever); bodies are decompressed by
us, incrementally, and cut at `max_bytes`. Safety: the SSRF guard checks each host before
connecting and the socket's peer address after (see guard.py)."""

from __future__ import annotations

import contextlib
import email.utils
import heapq
import http.cookiejar
import itertools
import logging
import os
import socket
import ssl
import threading
import time
import urllib.request
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.utils import get_netrc_auth
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError

from pharmcheck.fetch import guard
from pharmcheck.fetch.base import DEFAULT_USER_AGENT, REDIRECT_STATUSES, Deadline, error_response
from pharmcheck.fetch.content import CHUNK, read_capped
from pharmcheck.models import ErrorCode, FetchError, FetchOptions, Response
from pharmcheck.urls import endpoint

if TYPE_CHECKING:
    from requests.sessions import _Settings

# One request may use at most this many times --timeout in total (a drip-fed page must not
# eat the whole site deadline when other pages are waiting).
REQUEST_TOTAL_FACTOR = 3
RETRY_STATUSES = frozenset({408, 429, *range(500, 600)})
RETRY_ERRORS = frozenset({ErrorCode.connection, ErrorCode.connection_refused, ErrorCode.timeout})
BACKOFF_BASE = 0.5  # seconds; doubles with each retry
BACKOFF_MAX = 8.0
# How long the guard's "every address is public" for a host stands within a run before DNS is
# asked again (a site's pages are fetched within seconds; hosts shared by sites, longer).
GUARD_TTL = 60.0
_GUARD_PRUNE_AT = 4096  # hosts remembered before the expired ones are let go


# (scheme, authority, stream, verify, cert, trust_env) -> requests' merged settings
EnvironmentKey = tuple[str, str, Any, Any, Any, bool]


class RunEnvironment:
    """The proxy and CA settings requests reads from the environment, read once per run.

    requests walks all of os.environ twice for every request (the proxies, then whether the
    host bypasses them: NO_PROXY); _Session keeps what it read per origin. When the
    environment names no proxy at all (getproxies() is empty, as on most machines), the
    answer is the same for every origin ({} whether the host bypasses a proxy or not), so
    it is read once for the whole run, not once per site: an audit's sites are all new
    origins, and that per-origin read was ~10% of the fetching process's CPU."""

    def __init__(self) -> None:
        self.settings: dict[EnvironmentKey, _Settings] = {}
        self._proxies: dict[str, str] | None = None

    def names_proxies(self) -> bool:
        if self._proxies is None:  # a race only reads the environment twice
            # What requests' own merge asks (its compat.getproxies is urllib's).
            self._proxies = urllib.request.getproxies()
        return bool(self._proxies)


class HostLimiter:
    """At most `per_host` requests in flight to one host, across every site and thread; with
    `network_slots`, also at most that many requests in flight in all (an audit's --workers,
    when it keeps more sites open than it has requests on the network)."""

    def __init__(self, per_host: int, network_slots: int | None = None) -> None:
        self.per_host = per_host
        self.network_slots = network_slots
        self._lock = threading.Lock()
        self._sems: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(self.per_host)
        )
        self._slots = threading.BoundedSemaphore(network_slots) if network_slots else None
        # The proxy and CA settings read from the environment, by origin (or once, when it
        # names no proxy), for every transport of the run (_Session.merge_environment_settings).
        self.environment = RunEnvironment()
        # (host, port, --resolve address) -> until when (monotonic) the guard's check_host
        # passed for it: DNS asked once per host per GUARD_TTL, not before every request.
        self.public: dict[tuple[str, int, str | None], float] = {}

    def checked_public(self, host: str, port: int, pinned: str | None) -> None:
        """guard.check_host(host, port, pinned), skipped while an earlier pass of the same
        host stands (GUARD_TTL). Only passes are remembered: a refused or unresolvable host
        is asked again, as before. DNS rebinding stays caught: every new connection's peer
        address is checked (guard.check_peer), whatever DNS said before."""
        key = (host.lower(), port, pinned)
        now = time.monotonic()
        until = self.public.get(key)
        if until is not None and now < until:
            return
        guard.check_host(host, port, pinned)
        public = self.public
        if len(public) >= _GUARD_PRUNE_AT:
            with self._lock:  # one thread prunes; a race only re-asks DNS for a host
                self.public = {k: v for k, v in public.items() if v > now}
        self.public[key] = now + GUARD_TTL

    def semaphore(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            return self._sems[host]

    @contextlib.contextmanager
    def on_the_network(self, deadline: Deadline) -> Iterator[None]:
        """Held while one request is on the network (taken after the host's semaphore, so a
        request waiting on a busy host holds no slot). The wait for a slot is the run's
        business, not the site's: it does not count against the site's deadline."""
        slots = self._slots
        if slots is None:
            yield
            return
        if not slots.acquire(blocking=False):
            started = time.monotonic()
            slots.acquire()  # slots are held for one request each, which the watchdog bounds
            deadline.pause(started, time.monotonic())
        try:
            yield
        finally:
            slots.release()


# --- the watched, guarded connection --------------------------------------------------------


class _Watch:
    """The sockets of one exchange, shut down by a timer when its time is up."""

    def __init__(self, check_peer: bool, resolve: dict[tuple[str, int], str] | None = None) -> None:
        self.check_peer = check_peer
        self.resolve = resolve or {}  # --resolve: (host, port) -> the address to connect to
        self.fired = False
        self.certificate = b""  # DER of the TLS peer's certificate, for the site's network facts
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    # shutdown() (not close()) wakes a recv() blocked in another thread; called on the plain
    # socket even for TLS, so the SSL object is not torn down under the reading thread.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Alarm:
    """One armed call of a `_Watchdog`; `cancel()` makes sure it never happens."""

    __slots__ = ("action", "cancelled")

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Watchdog:
    """Calls each armed action when its time is up, from one thread for the whole process.

    What a `threading.Timer` per request did, without starting (and tearing down) a thread
    for every request: at hundreds of requests a second that was a tenth of the client's
    CPU. Actions must be quick (a socket shutdown). A forked child starts its own thread."""

    _COMPACT_EVERY = 1024  # arms between sweeps of the cancelled alarms out of the heap

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # In a forked child too: the parent's thread is not there, and its lock may have
        # been held by another of the parent's threads at the fork.
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, _Alarm]] = []
        self._order = itertools.count()
        self._serving = False

    def arm(self, seconds: float, action: Callable[[], None]) -> _Alarm:
        alarm = _Alarm(action)
        with self._lock:
            if not self._serving:
                self._serving = True
                threading.Thread(target=self._serve, args=(self._lock,), name="pharmcheck-watchdog", daemon=True).start()
            order = next(self._order)
            if order % self._COMPACT_EVERY == 0 and len(self._heap) > self._COMPACT_EVERY:
                # Nearly every alarm is cancelled long before it is due (the request finished).
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (time.monotonic() + seconds, order, alarm))
            if self._heap[0][2] is alarm:
                self._lock.notify()  # it is now the first due: the thread sleeps until then
        return alarm

    def _serve(self, lock: threading.Condition) -> None:
        while True:
            with lock:
                due: list[_Alarm] = []
                now = time.monotonic()
                while self._heap and (self._heap[0][2].cancelled or self._heap[0][0] <= now):
                    alarm = heapq.heappop(self._heap)[2]
                    if not alarm.cancelled:
                        due.append(alarm)
                if not due:
                    lock.wait(self._heap[0][0] - now if self._heap else None)
                    continue
            for alarm in due:
                if not alarm.cancelled:
                    try:
                        alarm.action()
                    except Exception:  # a bug in one action must not leave every later request unwatched
                        logging.getLogger("pharmcheck").exception("watchdog action failed")


_WATCHDOG = _Watchdog()


_current = threading.local()  # .watch: the _Watch of the exchange running in this thread


def _active_watch() -> _Watch | None:
    return getattr(_current, "watch", None)


class _WatchedMixin:
    """Registers each socket with the running exchange's watchdog and, unless the guard is
    off or a proxy is in between, refuses a non-public peer before a byte is sent."""

    proxy: Any
    sock: socket.socket | None
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        watch = _active_watch()
        host: str = getattr(self, "host", "")
        address = watch.resolve.get((host.lower(), getattr(self, "port", 0))) if watch is not None else None
        if address is None:
            sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        else:
            # --resolve: connect to the given address; `host` (Host header, SNI, certificate
            # name) stays the name, as curl does. urllib3 dials `_dns_host`.
            named = self._dns_host
            self._dns_host = address
            try:
                sock = super()._new_conn()  # type: ignore[misc]
            finally:
                self._dns_host = named
        if watch is not None:
            watch.add(sock)
            if watch.check_peer and self.proxy is None:
                try:
                    peer = sock.getpeername()[0]
                    guard.check_peer(str(peer))
                except (guard.Blocked, OSError):
                    sock.close()
                    raise
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = _active_watch()
        if watch is not None and self.sock is not None:  # a kept-alive connection
            watch.add(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]
        if watch is not None:
            watch.certificate = getattr(self, "peer_certificate", b"")


class _WatchedHTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, HTTPSConnection):
    peer_certificate = b""

    def connect(self) -> None:
        super().connect()
        # Kept with the connection: a kept-alive connection serves later requests without a
        # new handshake. Operators share certificates across storefronts (networks/).
        getpeercert = getattr(self.sock, "getpeercert", None)
        if getpeercert is not None:
            with contextlib.suppress(ValueError, OSError):
                self.peer_certificate = getpeercert(binary_form=True) or b""


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOL_CLASSES = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # (scheme, authority, verify, cert, proxies) -> its connection pool
        self._pools: dict[tuple[str, str, str, str, tuple[tuple[str, str], ...]], Any] = {}
        super().__init__(*args, **kwargs)

    def get_connection_with_tls_context(self, request: requests.PreparedRequest, verify: Any,
                                        proxies: Mapping[str, str] | None = None, cert: Any = None) -> Any:
        """The pool requests would pick, found again by origin and settings instead of being
        worked out anew for every request (URL, proxy, pool key: ~5% of a request's CPU)."""
        assert request.url is not None
        parts = urlsplit(request.url)
        key = (parts.scheme, parts.netloc, repr(verify), repr(cert), tuple(sorted((proxies or {}).items())))
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:  # not yet, or closed (the pool manager let it go)
            pool = self._pools[key] = super().get_connection_with_tls_context(request, verify, proxies, cert)
        return pool

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        """HTTPAdapter.build_response, without asking the response's cookie jar to take the
        cookies of an answer that sets none (most): the same Response (status, headers,
        encoding, raw, reason, url, request, connection; an empty jar either way)."""
        headers = getattr(resp, "headers", None)
        if headers is None or "set-cookie" in headers or "set-cookie2" in headers:
            return super().build_response(req, resp)
        response = requests.Response()
        response.status_code = getattr(resp, "status", None)  # type: ignore[assignment]
        response.headers = requests.structures.CaseInsensitiveDict(headers)
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url  # type: ignore[assignment]
        response.request = req
        response.connection = self
        return response

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager


# --- the transport ----------------------------------------------------------------------------


class _Prepared(requests.PreparedRequest):
    """requests' PreparedRequest, the same request, without two costs of every request that
    give nothing on our requests (~6% of the client's CPU): the session's headers, checked
    for validity once per set of headers instead of on every request, and an empty cookie
    jar (most sites set none), not asked for a Cookie header it cannot give."""

    def prepare_headers(self, headers: Mapping[str, str | bytes] | None) -> None:
        if not headers:
            super().prepare_headers(headers)
            return
        items = tuple(headers.items())
        checked = _CHECKED_HEADERS.get(items)
        if checked is None:
            super().prepare_headers(headers)  # raises InvalidHeader as it would every time
            if len(_CHECKED_HEADERS) >= _CHECKED_HEADERS_MAX:
                _CHECKED_HEADERS.clear()  # a caller changing its headers all the time: start again
            _CHECKED_HEADERS[items] = self.headers.copy()
        else:
            self.headers = checked.copy()  # ours to change (a Cookie, an Authorization)

    def prepare_cookies(self, cookies: Any) -> None:
        if isinstance(cookies, http.cookiejar.CookieJar) and len(cookies) == 0:
            # What requests does with a jar that holds nothing: keep it, add no header (the
            # jar would only look at the request, find no cookie for it and clear none).
            self._cookies = cookies
            return
        super().prepare_cookies(cookies)


# Headers as given -> the same headers, checked (CaseInsensitiveDict): a run has one set, or
# a few (tests, --user-agent), shared by every thread (a race only checks a set twice).
_CHECKED_HEADERS: dict[tuple[tuple[str, str | bytes], ...], requests.structures.CaseInsensitiveDict[str]] = {}
_CHECKED_HEADERS_MAX = 64


class _Session(requests.Session):
    """requests' Session, reading the environment (HTTP(S)_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE,
    ~/.netrc) once per origin instead of once per request: requests walks all of os.environ
    twice for every request, a third of the client's CPU. The environment does not change
    during a run, so the settings read are kept in `environment`, which the transports of a
    run share (the HostLimiter's): one walk per origin per run (per run when it names no
    proxy: RunEnvironment), not per site."""

    def __init__(self, environment: RunEnvironment | None = None) -> None:
        super().__init__()
        self._environment = RunEnvironment() if environment is None else environment
        self._netrc: dict[str, tuple[str, str] | None] = {}

    def fetch(self, url: str, timeout: float) -> requests.Response:
        """`self.get(url, stream=True, allow_redirects=False, timeout=(timeout, timeout))`, the
        same request on the wire (headers, cookies, netrc auth, proxies, CA bundle, through the
        same adapter), without what Session.request and Session.send add around the adapter
        for every request (copying the cookie jar twice, merging settings, Protocol isinstance
        checks, hooks, reading ~/.netrc, looking for a redirect to prepare): half the CPU of a
        request. A 3xx body is no longer read whole, uncapped, to prepare the redirect requests
        would not follow: the transport drains up to REDIRECT_DRAIN of it (_drain)."""
        prepared = _Prepared()
        prepared.prepare(method="GET", url=url, headers=self.headers, cookies=self.cookies,
                         auth=self.auth or self._netrc_auth(url))
        assert prepared.url is not None
        settings = self.merge_environment_settings(prepared.url, {}, True, None, None)
        verify = True if settings["verify"] is None else settings["verify"]  # never None: merged with ours (True)
        resp = self.get_adapter(prepared.url).send(
            prepared, stream=True, timeout=(timeout, timeout), verify=verify, cert=settings["cert"],
            proxies=settings["proxies"])
        headers = getattr(resp.raw, "headers", None)
        if headers is not None and ("set-cookie" in headers or "set-cookie2" in headers):
            # Without either header the jar would take nothing: only then is it worth asking.
            extract_cookies_to_jar(self.cookies, prepared, resp.raw)
        return resp

    def _netrc_auth(self, url: str) -> tuple[str, str] | None:
        # What prepare_request does for a request without auth (trust_env); depends on the host only.
        if not self.trust_env:
            return None
        netloc = urlsplit(url).netloc
        if netloc not in self._netrc:
            self._netrc[netloc] = get_netrc_auth(url)
        return self._netrc[netloc]

    def merge_environment_settings(self, url: str | bytes | None, proxies: Any, stream: bool | None,
                                   verify: bool | str | None, cert: Any) -> _Settings:
        if proxies or not isinstance(url, str):  # proxies given for this request: requests' own merge
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        # Sessions sharing the cache have requests' defaults (no session proxies, verify or
        # cert of their own): the environment and the origin decide, as the key says. The
        # origin only matters through the proxies (the CA bundle variables are the same for
        # all): with no proxy in the environment, or the environment not read, it does not.
        by_origin = self.trust_env and self._environment.names_proxies()
        key = (parts.scheme, parts.netloc if by_origin else "", stream, verify, cert, self.trust_env)
        known = self._environment.settings
        cached = known.get(key)
        if cached is None:
            cached = known[key] = super().merge_environment_settings(url, {}, stream, verify, cert)
        settings = cached.copy()  # requests and its adapters may change what they are handed
        settings["proxies"] = dict(cached["proxies"])
        return settings


class LiveTransport:
    def __init__(self, options: FetchOptions, limiter: HostLimiter | None = None, any_body: bool = False) -> None:
        self.options = options
        # A browser's subresources (scripts, images, fonts) are read whatever their type,
        # binary or not; pages are read only when they may be HTML or text.
        self.any_body = any_body
        self.limiter = limiter or HostLimiter(options.per_host)
        self.session = _Session(self.limiter.environment)  # honours HTTP(S)_PROXY / NO_PROXY (trust_env)
        adapter = _WatchedAdapter(max_retries=0)  # retries are ours: they must respect the deadline
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = options.user_agent or DEFAULT_USER_AGENT
        self.session.headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
        self.session.headers["Accept-Encoding"] = "gzip, deflate"
        # No session.max_redirects = 0: requests then raises TooManyRedirects on any 3xx, even
        # with allow_redirects=False. Redirects are followed by base.follow_redirects.
        self.sleep = time.sleep  # tests may replace it
        self.resolve = options.resolve_map()

    def close(self) -> None:
        self.session.close()

    def exchange(self, url: str, deadline: Deadline) -> Response:
        """One request (redirects not followed), retried on connection errors, 408, 429 and
        5xx with exponential backoff or the server's Retry-After, within the deadline."""
        scheme, host, port = endpoint(url)
        if scheme not in ("http", "https"):
            return error_response(url, ErrorCode.unsupported_scheme, f"unsupported scheme {scheme!r}: only http and https")
        if not self.options.allow_private:
            try:
                self.limiter.checked_public(host, port, self.resolve.get((host.lower(), port)))
            except guard.Unresolvable as exc:
                return error_response(url, ErrorCode.dns, f"DNS lookup failed: {exc}")
            except guard.Blocked as exc:
                return error_response(url, ErrorCode.blocked_private, f"refused by the SSRF guard: {exc} (--allow-private turns the guard off)")
        attempt = 0
        while True:
            resp, out_of_time = self._limited_exchange(url, host, deadline)
            # A request stopped by the watchdog had its whole time: trying again would let
            # one drip-fed page take (retries + 1) times as long.
            wait = None if out_of_time else self._retry_wait(resp, attempt)
            if wait is None:
                return resp
            if wait >= deadline.remaining():
                return resp  # the server asks for longer than we have: its answer stands
            self.sleep(wait)
            attempt += 1

    def _retry_wait(self, resp: Response, attempt: int) -> float | None:
        """Seconds to wait before retrying `resp`, or None when it must not be retried."""
        if attempt >= self.options.retries:
            return None
        if resp.error is not None:
            if resp.error.code not in RETRY_ERRORS or resp.status:
                return None
        elif resp.status not in RETRY_STATUSES:
            return None
        backoff = min(BACKOFF_BASE * 2**attempt, BACKOFF_MAX)
        after = retry_after_seconds(resp.headers.get("retry-after", ""))
        return backoff if after is None else after

    def _limited_exchange(self, url: str, host: str, deadline: Deadline) -> tuple[Response, bool]:
        sem = self.limiter.semaphore(host)
        if not sem.acquire(timeout=max(deadline.remaining(), 0.001)):
            return error_response(url, ErrorCode.deadline, "site deadline reached waiting for a connection"), True
        try:
            with self.limiter.on_the_network(deadline):
                return self._exchange(url, deadline)
        finally:
            sem.release()

    def _exchange(self, url: str, deadline: Deadline) -> tuple[Response, bool]:
        """One request; also says whether the watchdog stopped it."""
        started = time.monotonic()
        remaining = max(deadline.remaining(), 0.001)
        limit = min(self.options.timeout, remaining)
        budget = min(self.options.timeout * REQUEST_TOTAL_FACTOR, remaining)
        watch = _Watch(check_peer=not self.options.allow_private, resolve=self.resolve)
        alarm = _WATCHDOG.arm(budget, watch.fire)
        _current.watch = watch
        try:
            try:
                resp = self.session.fetch(url, limit)
            except (requests.RequestException, urllib3.exceptions.HTTPError, guard.Blocked, OSError) as exc:
                if watch.fired:
                    return error_response(url, *_out_of_time(deadline, budget, "waiting for the response")), True
                code, message = classify_exception(exc)
                return error_response(url, code, message), False
            try:
                return self._response(url, resp, started, deadline, budget, watch), watch.fired
            finally:
                if resp.status_code in REDIRECT_STATUSES:
                    _drain(resp)
                resp.close()
        finally:
            alarm.cancel()
            _current.watch = None

    def _response(
        self, url: str, resp: requests.Response, started: float, deadline: Deadline, budget: float, watch: _Watch
    ) -> Response:
        headers = dict(resp.headers.lower_items())  # {k.lower(): v for k, v in items()}, from its own store
        content_type = headers.get("content-type", "")
        body, truncated, error = b"", False, None
        if resp.status_code not in REDIRECT_STATUSES and (self.any_body or _wants_body(content_type)):
            body, truncated, error = self._read_body(resp, headers.get("content-encoding", ""))
        if watch.fired:
            # The socket was shut under us: whatever arrived (even a "complete" response cut
            # short) is partial.
            error = _out_of_time(deadline, budget, "reading the response")
        result = Response(
            url=url,
            final_url=url,
            status=resp.status_code,
            headers=headers,
            content_type=content_type,
            body=body,
            truncated=truncated,
            elapsed=time.monotonic() - started,
            certificate=watch.certificate,
        )
        if error is not None:
            # A partly read page is still worth analysing: say it is truncated, keep the error.
            result.truncated = True
            result.error = FetchError(code=error[0], url=url, message=error[1])
        return result

    def _read_body(
        self, resp: requests.Response, content_encoding: str
    ) -> tuple[bytes, bool, tuple[ErrorCode, str] | None]:
        # read1 returns what one recv gave: with the read timeout on each recv and the
        # watchdog on the whole, a drip-feeding server cannot hold us.
        chunks = iter(lambda: resp.raw.read1(CHUNK, decode_content=False), b"")
        return read_capped(chunks, content_encoding, self.options.max_bytes, classify_exception,
                           stop_on_binary=not self.any_body)


REDIRECT_DRAIN = 64 * 1024  # a redirect's body read (and dropped) to keep its connection


def _drain(resp: requests.Response) -> None:
    """Read a redirect's body to its end, so that its connection goes back to the pool for the
    next hop (a TLS handshake saved on a same-site redirect); a body larger than
    REDIRECT_DRAIN, or a failing one, is left, and close() drops the connection with it.
    Still under the request's watchdog: a drip-fed body cannot hold us."""
    left = REDIRECT_DRAIN
    with contextlib.suppress(Exception):
        while left > 0:
            chunk = resp.raw.read1(min(CHUNK, left), decode_content=False)
            if not chunk:
                return
            left -= len(chunk)


def _out_of_time(deadline: Deadline, budget: float, doing: str) -> tuple[ErrorCode, str]:
    if deadline.expired():
        return ErrorCode.deadline, f"site deadline of {deadline.seconds:g} s reached while {doing}"
    return ErrorCode.timeout, f"request took longer than {budget:g} s in total while {doing}"


def _wants_body(content_type: str) -> bool:
    ct = content_type.lower()
    return not ct or "html" in ct or ct.startswith("text/")


def retry_after_seconds(value: str) -> float | None:
    """Retry-After as seconds from now (delta-seconds or an HTTP date), None if absent/bad."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and the reasons urllib3 wraps inside args."""
    chain: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(chain) < 20:
        cur = todo.pop()
        if cur in chain:
            continue
        chain.append(cur)
        for nxt in (cur.__cause__, cur.__context__, getattr(cur, "reason", None), *cur.args[:1]):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return chain


def classify_exception(exc: BaseException) -> tuple[ErrorCode, str]:
    """Map a requests/urllib3 exception to an error kind and a readable reason."""
    chain = _exception_chain(exc)
    text = " ".join(str(e) for e in chain)
    blocked = next((e for e in chain if isinstance(e, guard.Blocked)), None)
    if blocked is not None:
        return ErrorCode.blocked_private, f"refused by the SSRF guard: {blocked} (--allow-private turns the guard off)"
    if isinstance(exc, requests.exceptions.SSLError) or any(
        isinstance(e, (urllib3.exceptions.SSLError, ssl.SSLError)) for e in chain
    ):
        return ErrorCode.tls, "TLS error: " + _tls_reason(text)
    if any(isinstance(e, (NameResolutionError, socket.gaierror)) for e in chain) or "Name or service not known" in text:
        return ErrorCode.dns, "DNS lookup failed"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in text:
        return ErrorCode.connection_refused, "connection refused"
    # urllib3's NewConnectionError subclasses ConnectTimeoutError: a failed connect is no timeout.
    timeouts = (TimeoutError, socket.timeout, urllib3.exceptions.TimeoutError)
    if isinstance(exc, requests.exceptions.Timeout) or any(
        isinstance(e, timeouts) and not isinstance(e, urllib3.exceptions.NewConnectionError) for e in chain
    ):
        phase = "connecting" if any(isinstance(e, requests.exceptions.ConnectTimeout) for e in chain) else "waiting for data"
        return ErrorCode.timeout, f"timed out {phase}"
    if any(isinstance(e, (urllib3.exceptions.DecodeError, zlib.error)) for e in chain) or "zlib" in text.lower():
        return ErrorCode.connection, f"corrupt compressed body: {_short(str(exc))}"
    return ErrorCode.connection, f"connection failed: {_short(str(exc))}"


_TLS_PROBLEMS = (
    ("self-signed certificate", "self-signed certificate"),
    ("self signed certificate", "self-signed certificate"),
    ("certificate has expired", "certificate has expired"),
    ("hostname mismatch", "certificate is for another host name"),
    ("doesn't match", "certificate is for another host name"),
    ("unable to get local issuer certificate", "unknown certificate authority"),
    ("certificate is not yet valid", "certificate is not yet valid"),
    ("certificate revoked", "certificate revoked"),
    ("wrong version number", "the server does not speak TLS on this port"),
    ("unsupported protocol", "the server offers only an obsolete TLS version"),
    ("handshake failure", "TLS handshake failure"),
)


def _tls_reason(text: str) -> str:
    low = text.lower()
    for needle, reason in _TLS_PROBLEMS:
        if needle in low:
            return reason
    marker = "certificate verify failed:"
    if marker in low:
        start = low.index(marker) + len(marker)
        return "certificate verify failed: " + text[start:].split("(")[0].strip().rstrip(")'\"")
    return _short(text)


def _short(text: str) -> str:
    return text.replace("\n", " ")[:200]
