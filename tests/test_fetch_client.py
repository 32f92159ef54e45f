"""The live client's shared machinery: one watchdog thread for every request's time limit,
the proxy environment read once per origin (still honoured host by host), and what each
request carries (our headers, the site's cookies, a ~/.netrc login)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pharmcheck.fetch import HostLimiter, LiveTransport
from pharmcheck.fetch.base import Deadline
from pharmcheck.fetch.live import _Watchdog
from pharmcheck.models import FetchOptions
from sitekit import ReplyHandler, server_url, serving

WAIT = 10.0  # generous: only a broken watchdog waits this long


def test_alarms_fire_in_the_order_they_are_due() -> None:
    watchdog = _Watchdog()
    fired: list[str] = []
    last = threading.Event()
    watchdog.arm(0.3, lambda: (fired.append("late"), last.set()))
    watchdog.arm(0.05, lambda: fired.append("early"))
    watchdog.arm(0.15, lambda: fired.append("middle"))
    assert last.wait(WAIT)
    assert fired == ["early", "middle", "late"]


def test_a_cancelled_alarm_never_fires() -> None:
    watchdog = _Watchdog()
    fired: list[str] = []
    done = threading.Event()
    watchdog.arm(0.05, lambda: fired.append("cancelled")).cancel()
    watchdog.arm(0.2, lambda: (fired.append("kept"), done.set()))
    assert done.wait(WAIT)
    assert fired == ["kept"]


def test_a_failing_action_does_not_stop_the_watchdog() -> None:
    watchdog = _Watchdog()
    done = threading.Event()

    def broken() -> None:
        raise RuntimeError("bug")

    watchdog.arm(0.01, broken)
    watchdog.arm(0.1, done.set)
    assert done.wait(WAIT)


def test_cancelled_alarms_do_not_pile_up() -> None:
    # Every request arms one and cancels it when it finishes, long before it is due.
    watchdog = _Watchdog()
    for _ in range(5000):
        watchdog.arm(600, lambda: None).cancel()
    done = threading.Event()
    watchdog.arm(0.01, done.set)
    assert done.wait(WAIT)
    assert len(watchdog._heap) < 2 * _Watchdog._COMPACT_EVERY


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_gets_its_own_watchdog_thread() -> None:
    watchdog = _Watchdog()
    ready = threading.Event()
    watchdog.arm(0.01, ready.set)  # the parent's thread is running
    assert ready.wait(WAIT)
    pid = os.fork()
    if pid == 0:  # the child: its alarm must fire although the parent's thread is not here
        fired = threading.Event()
        watchdog.arm(0.01, fired.set)
        os._exit(0 if fired.wait(WAIT) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


class _Answer(ReplyHandler):
    def do_GET(self) -> None:
        self.reply(200, f"{self.server.name} saw {self.path}".encode(), "text/plain")  # type: ignore[attr-defined]


@pytest.fixture
def proxy_and_site(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A proxy and a site, with the environment naming the proxy for every host but the site's."""
    with serving(_Answer, name="proxy") as proxy, serving(_Answer, name="site") as site:
        monkeypatch.setenv("HTTP_PROXY", server_url(proxy))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.delenv("http_proxy", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        yield server_url(proxy), server_url(site)


def test_the_proxy_environment_is_honoured_host_by_host_on_every_request(proxy_and_site: tuple[str, str]) -> None:
    _, site = proxy_and_site
    transport = LiveTransport(FetchOptions(allow_private=True, retries=0))
    try:
        seen = [transport.exchange(url, Deadline(30)).body.decode()
                for url in (f"{site}/a", "http://shop.example/b", f"{site}/c", "http://shop.example/d")]
    finally:
        transport.close()
    # The host in NO_PROXY is reached directly, every time; the other one through the proxy,
    # every time (a proxy is asked with the whole URL).
    assert seen == ["site saw /a", "proxy saw http://shop.example/b", "site saw /c", "proxy saw http://shop.example/d"]


def test_the_transports_of_a_run_read_the_environment_once_per_origin_and_still_honour_it(
        proxy_and_site: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _, site = proxy_and_site
    reads: list[str] = []
    merge = requests.Session.merge_environment_settings

    def counted(self: requests.Session, url: str, *args: object) -> object:
        reads.append(url)
        return merge(self, url, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(requests.Session, "merge_environment_settings", counted)
    limiter = HostLimiter(per_host=2)  # what the sites of one run share
    seen = []
    for _ in range(3):  # three sites, each with its own transport
        transport = LiveTransport(FetchOptions(allow_private=True, retries=0), limiter)
        try:
            seen += [transport.exchange(url, Deadline(30)).body.decode() for url in (f"{site}/a", "http://shop.example/b")]
        finally:
            transport.close()
    assert seen == ["site saw /a", "proxy saw http://shop.example/b"] * 3
    assert reads == [f"{site}/a", "http://shop.example/b"]  # once per origin for the whole run


def test_a_connection_pool_let_go_by_the_pool_manager_is_not_used_again() -> None:
    from pharmcheck.fetch.live import _WatchedAdapter

    transport = LiveTransport(FetchOptions(allow_private=True, retries=0))
    adapter = _WatchedAdapter(pool_connections=1, max_retries=0)  # room for one origin's pool
    transport.session.mount("http://", adapter)
    with serving(_Answer, name="one") as one, serving(_Answer, name="two") as two:
        try:
            answers = [transport.exchange(f"{server_url(server)}/{i}", Deadline(30))
                       for i, server in enumerate((one, two, one, one))]
        finally:
            transport.close()
    assert [(a.error, a.body) for a in answers] == [
        (None, b"one saw /0"), (None, b"two saw /1"), (None, b"one saw /2"), (None, b"one saw /3")]


class _Echo(ReplyHandler):
    """Answers with the request's headers as it received them; /login sets a cookie."""

    def do_GET(self) -> None:
        body = "".join(f"{name}: {value}\n" for name, value in self.headers.items()).encode()
        self.reply(200, body, "text/plain", {"Set-Cookie": "session=abc123; Path=/"} if self.path == "/login" else {})


def test_each_request_carries_the_sites_cookies_netrc_login_and_our_headers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The transport builds its requests without Session.request; what reaches the server must
    # still be what requests would send: our headers, cookies the site set, ~/.netrc's login.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password s3cret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    transport = LiveTransport(FetchOptions(allow_private=True, retries=0, user_agent="test-agent/1"))
    with serving(_Echo) as server:
        try:
            before, _login, after = (transport.exchange(f"{server_url(server)}{path}", Deadline(30)).body.decode().splitlines()
                                     for path in ("/", "/login", "/next"))
        finally:
            transport.close()
    assert "User-Agent: test-agent/1" in before and "Accept-Encoding: gzip, deflate" in before
    assert "Authorization: Basic YWxpY2U6czNjcmV0" in before  # alice:s3cret
    assert not any(line.startswith("Cookie:") for line in before)
    assert "Cookie: session=abc123" in after


class _KeepAlive(ReplyHandler):
    """HTTP/1.1 with keep-alive; /moved redirects (with a small body, as servers send);
    records the client port of each request: one port = one connection."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.ports.append(self.client_address[1])  # type: ignore[attr-defined]
        moved = self.path == "/moved"
        if moved:
            self.reply(302, b"<a href=/here>moved here</a>", "text/html", {"Location": "/here"})
        else:
            self.reply(200, b"<p>here</p>", "text/html")


def test_a_redirect_leaves_its_connection_for_the_next_hop() -> None:
    ports: list[int] = []
    transport = LiveTransport(FetchOptions(allow_private=True, retries=0))
    with serving(_KeepAlive, ports=ports) as server:
        try:
            moved = transport.exchange(f"{server_url(server)}/moved", Deadline(30))
            here = transport.exchange(f"{server_url(server)}/here", Deadline(30))
        finally:
            transport.close()
    assert (moved.status, here.status, here.body) == (302, 200, b"<p>here</p>")
    assert len(ports) == 2 and ports[0] == ports[1]  # the same connection served both
