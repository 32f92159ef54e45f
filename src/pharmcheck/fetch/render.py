"""Headless rendering (`--render`, `--screenshots`): Debian's Chromium driven by Playwright.

The browser never touches the network itself. Every request it makes is intercepted
(`context.route`) and answered by us: the page's own document from the plain fetch already
made, everything else (scripts, XHR, images, redirects' targets...) through a `LiveTransport`,
so it passes the same SSRF guard, scheme allow-list, timeouts and byte caps as the plain
fetcher. What the interception cannot see is refused by the browser's set-up: WebSockets
are closed unconnected (`route_web_socket`), service workers blocked, downloads refused, no
permission granted; and as a last line, Chromium's resolver maps every name to nothing and
its proxy is a closed port, so a request that escaped interception could not reach anyone.

One browser per process (Playwright's sync API is tied to a thread, so the async API runs in
one service thread that every crawling thread hands work to); a fresh context per site. A
page has a deadline (3 x --timeout within the site's), a request cap and a byte cap.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pharmcheck.errors import UsageError
from pharmcheck.fetch.base import REDIRECT_STATUSES, Deadline
from pharmcheck.models import ErrorCode, FetchError, FetchOptions, PageFacts, Response, Screenshot
from pharmcheck.urls import scheme_of

if TYPE_CHECKING:  # live.py (requests, urllib3) is imported by the renderer only, not by a replay
    from pharmcheck.fetch.live import HostLimiter

T = TypeVar("T")

CHROMIUM_ENV = "PHARMCHECK_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI and containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--disable-quic",
    "--mute-audio",
    # WebRTC would open UDP sockets of its own, outside interception.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    # Last line of defence: every request is answered by interception, so Chromium never needs
    # a name or a connection of its own. Any that escaped would fail here.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
# A closed port as the proxy (and no implicit bypass for loopback): a connection that
# escaped interception goes nowhere.
_DEAD_PROXY = {"server": "http://127.0.0.1:9", "bypass": "<-loopback>"}

VIEWPORT = {"width": 1280, "height": 900}
SCREENSHOT_MAX_HEIGHT = 8000  # px; a 30,000 px listing would make a 20 MB PNG
SCREENSHOT_MAX_BYTES = 25_000_000  # a replayed screenshot record larger than this is not loaded
MAX_REQUESTS_PER_PAGE = 150
MAX_BYTES_PER_PAGE = 15_000_000  # all subresources of one page, after decompression
NETWORK_IDLE_WAIT = 3.0  # s: after "load", how long to wait at most for the network to go quiet
QUIET = 0.15  # s with no request in flight that count as quiet (late XHR usually start at once)
_SETTLE = 2.0  # s given to the browser beyond a page's deadline before the render is abandoned
# Headers of the wire encoding: bodies reach the browser decoded.
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length", "connection", "keep-alive"})


class BrowserUnavailable(UsageError):
    """--render or --screenshots without Chromium or Playwright (exit 2, one line)."""


def chromium_path() -> str | None:
    """The Chromium to drive: $PHARMCHECK_CHROMIUM, else Debian's /usr/bin/chromium or
    `chromium` on the PATH; None when there is none."""
    wanted = os.environ.get(CHROMIUM_ENV)
    candidates = [wanted] if wanted else [DEFAULT_CHROMIUM, "chromium", "chromium-browser"]
    for candidate in candidates:
        found = candidate if Path(candidate).is_file() else shutil.which(candidate)
        if found and os.access(found, os.X_OK):
            return found
    return None


def require_browser(option: str = "--render") -> str:
    """The Chromium path, or BrowserUnavailable saying what to install."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        raise BrowserUnavailable(f"{option} needs Playwright: pip install 'pharmcheck[render]'") from None
    path = chromium_path()
    if path is None:
        where = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
        raise BrowserUnavailable(
            f"{option} needs Chromium, and there is none at {where} "
            f"(Debian: apt-get install chromium; or set {CHROMIUM_ENV} to its path)"
        )
    return path


# --- one browser per process ---------------------------------------------------------------


class BrowserService:
    """A thread running an asyncio loop, Playwright and one Chromium; any thread hands it
    coroutines (`call`). Started on first use, closed at exit."""

    def __init__(self, executable: str) -> None:
        import asyncio  # here, not at the top: ~20 ms of every process that renders nothing

        self.executable = executable
        self.loop = asyncio.new_event_loop()
        # Our transport is blocking (requests): subresource fetches run on these threads.
        self.fetchers = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="render-fetch")
        self._thread = threading.Thread(target=self.loop.run_forever, name="render-browser", daemon=True)
        self._thread.start()
        self._pw: Any = None
        self.browser: Any = None
        self.call(self._start(), timeout=60)

    async def _start(self) -> None:
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        self.browser = await self._pw.chromium.launch(
            executable_path=self.executable, args=CHROMIUM_ARGS, proxy=_DEAD_PROXY, headless=True,
            handle_sigint=False, handle_sigterm=False, handle_sighup=False,
        )

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.browser is not None and self.browser.is_connected()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` in the browser's loop without waiting for it."""
        import asyncio
        asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        import asyncio
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    async def _stop(self) -> None:
        if self.browser is not None:
            await self.browser.close()
        if self._pw is not None:
            await self._pw.stop()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # at exit: the browser dies with us anyway
            self.call(self._stop(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.fetchers.shutdown(wait=False, cancel_futures=True)


_SERVICE: tuple[int, BrowserService] | None = None
_SERVICE_LOCK = threading.Lock()


def browser_service() -> BrowserService:
    """This process's browser (a forked worker process starts its own)."""
    global _SERVICE
    with _SERVICE_LOCK:
        # A crashed (or OOM-killed) browser is replaced rather than failing every later page.
        if _SERVICE is None or _SERVICE[0] != os.getpid() or not _SERVICE[1].alive:
            if _SERVICE is not None and _SERVICE[0] == os.getpid():
                _SERVICE[1].close()
            service = BrowserService(require_browser())
            atexit.register(service.close)
            _SERVICE = (os.getpid(), service)
        return _SERVICE[1]


# --- when a page needs a browser (--render auto) --------------------------------------------

AUTO_MIN_TEXT = 300  # visible characters below which a page "looks empty"
_APP_ROOT = re.compile(
    rb"""<(?:div|main|body)\b[^>]*\b(?:id\s*=\s*["']?(?:root|app|__next|__nuxt|q-app|svelte)["'\s>]"""
    rb"""|ng-app|data-reactroot|data-server-rendered)""",
    re.I,
)
_NOSCRIPT_WARNING = re.compile(
    rb"<noscript\b[^>]*>(?:(?!</noscript>).){0,400}?\b(?:enable|requires?|turn on|activate)\b[^<]{0,40}javascript",
    re.I | re.S,
)


def needs_browser(resp: Response, facts: PageFacts) -> str | None:
    """Why a plainly fetched page looks empty or built by script (so `auto` renders it), or None."""
    text = len(facts.text)
    head = resp.body[:200_000]
    if _NOSCRIPT_WARNING.search(head):
        return "asks for JavaScript"
    if _APP_ROOT.search(head) and text < 4 * AUTO_MIN_TEXT:
        return "an app root with little text"
    if text < AUTO_MIN_TEXT:
        return "little visible text"
    return None


# --- one site -------------------------------------------------------------------------------


@dataclass
class RenderedPage:
    dom: str | None = None  # the document after scripts ran (None: not rendered, or failed)
    screenshot: Screenshot | None = None
    errors: list[FetchError] = field(default_factory=list)


class _PageBudget:
    """Requests and bytes one page may still spend, and what was refused (reported once)."""

    def __init__(self, page_url: str) -> None:
        self.page_url = page_url
        self.requests = 0
        self.bytes = 0
        self.in_flight = 0
        self.last_activity = time.monotonic()
        self.errors: list[FetchError] = []
        self._said: set[tuple[ErrorCode, str]] = set()

    async def quiet(self, wait: float) -> None:
        """Wait until no request has been in flight for QUIET seconds, or `wait` is over. Every
        request passes through our interception, so we know when the network is idle without
        Playwright's fixed 500 ms "networkidle"."""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if self.in_flight == 0 and time.monotonic() - self.last_activity >= QUIET:
                return
            import asyncio
            await asyncio.sleep(0.03)

    def refuse(self, code: ErrorCode, url: str, message: str) -> None:
        key = (code, url if code != ErrorCode.render_limit else "")
        if key not in self._said and len(self.errors) < 50:
            self._said.add(key)
            self.errors.append(FetchError(code=code, url=url[:2000], message=message))


@dataclass
class _Visit:
    """The page being rendered: its plain response, its deadline and budget."""

    resp: Response
    deadline: Deadline
    budget: _PageBudget
    document_served: bool = False


@dataclass
class _Tab:
    context: Any
    page: Any
    visit: _Visit | None = None


class SiteRenderer:
    """The browser's view of one site's pages: a fresh context per site (per JavaScript setting:
    screenshots of plainly read pages are taken with scripts off, so they show what was read)."""

    def __init__(self, options: FetchOptions, deadline: Deadline, limiter: HostLimiter | None = None) -> None:
        from pharmcheck.fetch.live import LiveTransport

        self.options = options
        self.deadline = deadline
        self.service = browser_service()
        # Subresources: no retries (a page's tracker is not worth the site's time), any body.
        self.transport = LiveTransport(options.model_copy(update={"retries": 0}), limiter, any_body=True)
        self._contexts: dict[bool, _Tab] = {}

    def render(self, resp: Response, scripts: bool, screenshot: bool) -> RenderedPage:
        """Load `resp` (already fetched) in the browser; with `scripts`, return the DOM they
        built; with `screenshot`, a full-page PNG. Never raises on what a page does."""
        from pharmcheck.fetch.live import REQUEST_TOTAL_FACTOR

        budget = min(self.options.timeout * REQUEST_TOTAL_FACTOR, self.deadline.remaining())
        result = RenderedPage()
        if budget <= 0.2:
            result.errors.append(FetchError(code=ErrorCode.deadline, url=resp.final_url,
                                            message="site deadline reached before the page could be rendered"))
            return result
        page_budget = _PageBudget(resp.final_url)
        try:
            self.service.call(self._render(resp, scripts, screenshot, budget, page_budget, result),
                              timeout=budget + 2 * _SETTLE)  # the screenshot may take _SETTLE past it
        except concurrent.futures.TimeoutError:
            result.errors.append(FetchError(code=ErrorCode.render, url=resp.final_url,
                                            message=f"the browser did not finish the page within {budget:.0f} s"))
            self._drop_context(scripts)
        except Exception as exc:  # a crashed browser or page must not fail the check
            result.errors.append(FetchError(code=ErrorCode.render, url=resp.final_url,
                                            message=f"rendering failed: {type(exc).__name__}: {str(exc)[:200]}"))
            self._drop_context(scripts)
        result.errors[:0] = page_budget.errors
        return result

    def _drop_context(self, scripts: bool) -> None:
        """Close a context (after a failure or at the site's end) without waiting for it: a
        hung page must not hold the crawl past its deadline."""
        tab = self._contexts.pop(scripts, None)
        if tab is not None:
            self.service.submit(_close_quietly(tab.context))

    async def _tab(self, scripts: bool) -> _Tab:
        """The site's context and its one page (kept across the site's pages: a new page costs
        a renderer process), its requests and events routed to whichever visit is current."""
        tab = self._contexts.get(scripts)
        if tab is not None:
            return tab
        context = await self.service.browser.new_context(
            java_script_enabled=scripts,
            service_workers="block",
            accept_downloads=False,
            permissions=[],
            viewport=VIEWPORT,
            user_agent=self.transport.session.headers["User-Agent"],
        )
        tab = _Tab(context, await context.new_page())
        self._contexts[scripts] = tab

        async def route(route: Any) -> None:
            visit = tab.visit
            if visit is None:  # between visits (a late timer of the last page): nobody asked
                await route.abort("blockedbyclient")
                return
            await self._answer(route, visit)

        async def websocket(ws: Any) -> None:
            if tab.visit is not None:
                tab.visit.budget.refuse(ErrorCode.unsupported_scheme, ws.url,
                                        f"the browser's WebSocket to {ws.url[:200]} was refused: only http and https are fetched")
            await ws.close()

        def failed(request: Any) -> None:
            # What interception never sees: file:, chrome:, and the like, refused by Chromium.
            scheme = scheme_of(request.url)
            if tab.visit is not None and scheme not in ("http", "https", "data", "blob", "about"):
                tab.visit.budget.refuse(ErrorCode.unsupported_scheme, request.url,
                                        f"the browser's request for {request.url[:200]} was refused: only http and https are fetched")

        def download(dl: Any) -> None:
            if tab.visit is not None:
                tab.visit.budget.refuse(ErrorCode.download_refused, dl.url,
                                        f"the page started a download of {dl.url[:200]}: refused")

        await tab.page.route("**/*", route)
        await tab.page.route_web_socket(re.compile(".*"), websocket)
        tab.page.on("requestfailed", failed)
        tab.page.on("download", download)
        return tab

    async def _render(self, resp: Response, scripts: bool, screenshot: bool, budget: float,
                      page_budget: _PageBudget, result: RenderedPage) -> None:
        tab = await self._tab(scripts)
        visit = _Visit(resp, Deadline(budget), page_budget)
        tab.visit = visit
        page = tab.page
        try:
            try:
                await page.goto(resp.final_url, wait_until="load", timeout=budget * 1000)
            except Exception as exc:
                if not visit.document_served:
                    raise
                page_budget.refuse(ErrorCode.render, resp.final_url,
                                   f"the page did not finish loading in {budget:.0f} s; read as it stood ({_first_line(exc)})")
            await page_budget.quiet(min(NETWORK_IDLE_WAIT, visit.deadline.remaining()))
            if scripts:
                result.dom = await page.content()
            if screenshot:
                result.screenshot = await self._screenshot(page, max(visit.deadline.remaining(), 1.0) + _SETTLE)
        finally:
            tab.visit = None

    async def _screenshot(self, page: Any, timeout: float) -> Screenshot:
        height = await page.evaluate("Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0)")
        height = max(int(height or 0), 1)
        shown = min(height, SCREENSHOT_MAX_HEIGHT)
        png = await page.screenshot(full_page=True, type="png", animations="disabled", timeout=timeout * 1000,
                                    clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": shown})
        return Screenshot(sha256=hashlib.sha256(png).hexdigest(), width=VIEWPORT["width"], height=shown,
                          capped=height > SCREENSHOT_MAX_HEIGHT, png=png)

    async def _answer(self, route: Any, visit: _Visit) -> None:
        budget = visit.budget
        budget.in_flight += 1
        try:
            await self._answer_request(route, visit)
        finally:
            budget.in_flight -= 1
            budget.last_activity = time.monotonic()

    async def _answer_request(self, route: Any, visit: _Visit) -> None:
        resp, deadline, budget = visit.resp, visit.deadline, visit.budget
        request = route.request
        url = request.url
        scheme = scheme_of(url)
        if scheme not in ("http", "https"):
            budget.refuse(ErrorCode.unsupported_scheme, url,
                          f"the browser's request for {url[:200]} was refused: only http and https are fetched")
            await route.abort("blockedbyclient")
            return
        if not visit.document_served and request.is_navigation_request():
            # The page itself: the bytes the plain fetch got (no second request, same evidence).
            visit.document_served = True
            await route.fulfill(status=resp.status or 200, headers=_browser_headers(resp.headers), body=resp.body)
            return
        if request.method not in ("GET", "HEAD"):
            # The transport only GETs; replaying a POST as a GET would change what it asks for.
            await route.abort("blockedbyclient")
            return
        budget.requests += 1
        if budget.requests > MAX_REQUESTS_PER_PAGE:
            budget.refuse(ErrorCode.render_limit, url, f"more than {MAX_REQUESTS_PER_PAGE} browser requests on this page: the rest refused")
            await route.abort("blockedbyclient")
            return
        if budget.bytes >= MAX_BYTES_PER_PAGE or deadline.expired():
            if budget.bytes >= MAX_BYTES_PER_PAGE:
                budget.refuse(ErrorCode.render_limit, url,
                              f"more than {MAX_BYTES_PER_PAGE:,} bytes of browser requests on this page: the rest refused")
            await route.abort("timedout" if deadline.expired() else "blockedbyclient")
            return
        import asyncio
        loop = asyncio.get_running_loop()
        got: Response = await loop.run_in_executor(self.service.fetchers, self.transport.exchange, url, deadline)
        if got.error is not None and got.error.code in (ErrorCode.blocked_private, ErrorCode.unsupported_scheme,
                                                        ErrorCode.invalid_url):
            budget.refuse(got.error.code, url,
                          f"the browser's {request.resource_type} request for {url[:200]} was refused: {got.error.message}")
            await route.abort("blockedbyclient")
            return
        if got.status == 0 or (got.error is not None and not got.body):
            await route.abort("failed")
            return
        budget.bytes += len(got.body)
        headers = _browser_headers(got.headers)
        if got.status in REDIRECT_STATUSES:
            # The browser follows it with a new request, which comes back here and is checked.
            await route.fulfill(status=got.status, headers=headers, body=b"")
            return
        await route.fulfill(status=got.status, headers=headers, body=got.body)

    def close(self) -> None:
        for scripts in list(self._contexts):
            self._drop_context(scripts)
        self.transport.close()


async def _close_quietly(context: Any) -> None:
    with contextlib.suppress(Exception):  # a dead context has nothing left to close
        await context.close()


def _browser_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _WIRE_HEADERS}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


# --- the crawl's hook -----------------------------------------------------------------------


Extract = Callable[[Response], PageFacts]


@dataclass
class PageView:
    """One page as the crawl reads it: its facts, whether a browser built them, its screenshot."""

    facts: PageFacts
    rendered: bool = False
    screenshot: Screenshot | None = None
    errors: list[FetchError] = field(default_factory=list)


class PageReader:
    """Reads the pages of one crawl: plain extraction, or through the browser as --render and
    --screenshots ask; on replay, from the DOM and screenshot a rendered capture kept."""

    def __init__(self, options: FetchOptions, deadline: Deadline, archive: Any = None,
                 recorder: Any = None, limiter: HostLimiter | None = None) -> None:
        self.options = options
        self.deadline = deadline
        self.archive = archive  # ArchiveIndex when replaying: never a browser then
        self.recorder = recorder  # WarcRecorder when --save-warc: renderings are kept with the pages
        self.limiter = limiter
        self._renderer: SiteRenderer | None = None

    def read(self, resp: Response, extract: Extract) -> PageView:
        if self.archive is not None:
            return self._replayed(resp, extract)
        mode = self.options.render
        if not self.options.uses_browser:
            return PageView(extract(resp))
        plain = None if mode == "on" else extract(resp)
        render = mode == "on" or (mode == "auto" and plain is not None and needs_browser(resp, plain) is not None)
        if not render and not self.options.screenshots:
            assert plain is not None
            return PageView(plain)
        if self._renderer is None:
            self._renderer = SiteRenderer(self.options, self.deadline, self.limiter)
        shown = self._renderer.render(resp, scripts=render, screenshot=self.options.screenshots)
        if shown.dom is not None:
            facts, rendered = extract(_dom_response(resp, shown.dom, self.options.max_bytes)), True
        else:  # not asked for, or the browser failed: the page as fetched
            facts, rendered = plain if plain is not None else extract(resp), False
        view = PageView(facts, rendered=rendered, screenshot=shown.screenshot, errors=shown.errors)
        if self.recorder is not None and (shown.dom is not None or shown.screenshot is not None):
            dom = _dom_response(resp, shown.dom, self.options.max_bytes).body if shown.dom is not None else None
            self.recorder.write_rendering(resp.final_url, dom, shown.screenshot.png if shown.screenshot else None)
        return view

    def _replayed(self, resp: Response, extract: Extract) -> PageView:
        dom = self.archive.load_derived(resp.final_url, "conversion", self.options.max_bytes)
        png = self.archive.load_derived(resp.final_url, "resource", SCREENSHOT_MAX_BYTES)
        view = PageView(extract(_dom_response(resp, dom.decode("utf-8", "replace"), self.options.max_bytes)
                                if dom is not None else resp))
        view.rendered = dom is not None
        if png is not None:
            view.screenshot = screenshot_of(png)
        return view

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def _dom_response(resp: Response, dom: str, max_bytes: int) -> Response:
    body = dom.encode("utf-8")
    truncated = len(body) > max_bytes
    return resp.model_copy(update={
        "body": body[:max_bytes], "content_type": "text/html; charset=utf-8",
        "headers": {**resp.headers, "content-type": "text/html; charset=utf-8"},
        "truncated": resp.truncated or truncated,
    })


def screenshot_of(png: bytes) -> Screenshot:
    """A Screenshot from PNG bytes (its size read from the IHDR chunk)."""
    width = height = 0
    if png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) >= 24:
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return Screenshot(sha256=hashlib.sha256(png).hexdigest(), width=width, height=height,
                      capped=height >= SCREENSHOT_MAX_HEIGHT, png=png)
