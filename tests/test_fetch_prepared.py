"""The live client's shortcuts around requests, held to what requests itself does: the
environment read once per run when it names no proxy, and requests prepared without checking
the same headers again or asking an empty cookie jar for a Cookie header."""

from __future__ import annotations

import http.cookiejar
import string

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from pharmcheck.fetch import HostLimiter, LiveTransport
from pharmcheck.fetch.base import Deadline
from pharmcheck.fetch.live import _Prepared
from pharmcheck.models import FetchOptions
from sitekit import ReplyHandler, server_url, serving

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy")


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class _Answer(ReplyHandler):
    def do_GET(self) -> None:
        self.reply(200, f"saw {self.path}".encode(), "text/plain")


def test_with_no_proxy_in_the_environment_a_run_reads_it_once_for_every_origin(
        no_proxy_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    merge = requests.Session.merge_environment_settings

    def counted(self: requests.Session, url: str, *args: object) -> object:
        reads.append(url)
        return merge(self, url, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(requests.Session, "merge_environment_settings", counted)
    limiter = HostLimiter(per_host=2)
    seen = []
    with serving(_Answer, "127.0.0.1") as one_server, serving(_Answer, "127.0.0.2") as two_server:
        one, two = server_url(one_server), server_url(two_server)
        for _ in range(2):  # two sites' transports of one run
            transport = LiveTransport(FetchOptions(allow_private=True, retries=0), limiter)
            try:
                seen += [transport.exchange(f"{origin}/p", Deadline(30)).body.decode() for origin in (one, two)]
            finally:
                transport.close()
    assert seen == ["saw /p"] * 4
    assert reads == [f"{one}/p"]  # the first request's read serves every origin of the run


def test_a_proxy_named_later_in_another_run_is_honoured(no_proxy_environment: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The shortcut is per run (per HostLimiter): a new run reads the environment again.
    first = LiveTransport(FetchOptions(allow_private=True, retries=0))
    assert first.session.merge_environment_settings("http://a.example/", {}, True, None, None)["proxies"] == {}
    first.close()
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.9:1")
    second = LiveTransport(FetchOptions(allow_private=True, retries=0))
    try:
        proxies = second.session.merge_environment_settings("http://a.example/", {}, True, None, None)["proxies"]
    finally:
        second.close()
    assert proxies.get("http") == "http://127.0.0.9:1"


def _as_requests_prepares(headers: dict[str, str], jar: http.cookiejar.CookieJar, url: str,
                          auth: tuple[str, str] | None) -> tuple[object, ...]:
    prepared = requests.PreparedRequest()
    prepared.prepare(method="GET", url=url, headers=headers, cookies=jar, auth=auth)
    return _seen(prepared)


def _seen(prepared: requests.PreparedRequest) -> tuple[object, ...]:
    assert prepared.headers is not None
    return (prepared.method, prepared.url, list(prepared.headers.items()), prepared.body, prepared._cookies)


_HEADER_NAMES = st.sampled_from(["User-Agent", "Accept", "Accept-Encoding", "X-Custom", "accept"])
# Printable and not: control characters, CR/LF (refused by requests), leading spaces, non-ASCII.
_HEADER_VALUES = st.text(alphabet=st.sampled_from([*string.printable, "\x00", "\x7f", "é", "\u2028", " "]), max_size=30)


def _jar(cookies: list[tuple[str, str]]) -> requests.cookies.RequestsCookieJar:
    jar = requests.cookies.RequestsCookieJar()
    for name, value in cookies:
        jar.set(name, value, domain="shop.example", path="/")
    return jar


@settings(max_examples=300, deadline=None)
@given(headers=st.dictionaries(_HEADER_NAMES, _HEADER_VALUES, max_size=4),
       cookies=st.lists(st.tuples(st.sampled_from(["a", "b", "session"]), st.sampled_from(["1", "xyz", ""])), max_size=3),
       url=st.sampled_from(["http://shop.example/", "https://shop.example/p?q=1", "http://user:pw@shop.example/x",
                            "http://other.example/", "http://b\u00fccher.example/\u00e9"]),
       auth=st.none() | st.just(("alice", "s3cret")),
       repeat=st.integers(1, 3))
def test_a_request_is_prepared_as_requests_prepares_it(headers: dict[str, str], cookies: list[tuple[str, str]],
                                                       url: str, auth: tuple[str, str] | None, repeat: int) -> None:
    try:
        expected: tuple[object, ...] | type[Exception] = _as_requests_prepares(headers, _jar(cookies), url, auth)
    except Exception as exc:  # an invalid header: ours must refuse it as requests does, every time
        expected = type(exc)
    for _ in range(repeat):  # the first time checks the headers; later times reuse the check
        jar = _jar(cookies)
        ours = _Prepared()
        if isinstance(expected, type):
            with pytest.raises(expected):
                ours.prepare(method="GET", url=url, headers=headers, cookies=jar, auth=auth)
            continue
        ours.prepare(method="GET", url=url, headers=headers, cookies=jar, auth=auth)
        seen = _seen(ours)
        assert seen[:4] == expected[:4]
        assert seen[4] is jar


def test_headers_added_to_one_request_do_not_reach_the_next() -> None:
    headers = {"User-Agent": "test/1"}
    first = _Prepared()
    first.prepare(method="GET", url="http://shop.example/", headers=headers, cookies=_jar([]), auth=("a", "b"))
    assert first.headers is not None and "Authorization" in first.headers
    second = _Prepared()
    second.prepare(method="GET", url="http://shop.example/", headers=headers, cookies=_jar([("s", "1")]))
    assert second.headers is not None
    assert "Authorization" not in second.headers and second.headers["Cookie"] == "s=1"
    third = _Prepared()
    third.prepare(method="GET", url="http://shop.example/", headers=headers, cookies=_jar([]))
    assert third.headers is not None and dict(third.headers) == {"User-Agent": "test/1"}


_HEADER_LINES = st.lists(st.tuples(
    st.sampled_from(["Content-Type", "content-type", "Set-Cookie", "set-cookie2", "Location", "X-A", "Content-Length"]),
    st.sampled_from(["text/html; charset=ISO-8859-1", "text/plain", "application/json", "text/html;charset=\"utf-8\"",
                     "a=1; Path=/", "b=2; Domain=shop.example", "/next", "\u00e9t\u00e9", "", " spaced "])), max_size=5)


@settings(max_examples=300, deadline=None)
@given(lines=_HEADER_LINES, status=st.sampled_from([200, 204, 301, 404, 500]),
       reason=st.sampled_from(["OK", "", "Not Found"]))
def test_a_response_is_built_as_requests_builds_it(lines: list[tuple[str, str]], status: int, reason: str) -> None:
    import urllib3
    from requests.adapters import HTTPAdapter

    from pharmcheck.fetch.live import _WatchedAdapter

    request = requests.PreparedRequest()
    request.prepare(method="GET", url="http://shop.example/p")
    ours_adapter, theirs_adapter = _WatchedAdapter(max_retries=0), HTTPAdapter(max_retries=0)
    built = []
    for adapter in (ours_adapter, theirs_adapter):
        raw = urllib3.HTTPResponse(body=b"x", headers=urllib3.HTTPHeaderDict(lines), status=status, reason=reason,
                                   preload_content=False)
        resp = adapter.build_response(request, raw)
        assert resp.raw is raw and resp.request is request and resp.connection is adapter  # type: ignore[attr-defined]
        built.append((resp.status_code, list(resp.headers.items()), list(resp.headers.lower_items()), resp.encoding,
                      resp.reason, resp.url, sorted(resp.cookies.items())))
    assert built[0] == built[1]
