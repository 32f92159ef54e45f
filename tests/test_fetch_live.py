"""The live transport without a network (`responses`): error kinds, retries, body limits."""

from __future__ import annotations

import gzip
import ssl
import zlib

import pytest
import requests
import responses

from pharmcheck.fetch import LiveTransport, guard
from pharmcheck.fetch.base import Deadline
from pharmcheck.fetch.content import BodyDecoder, sniff_binary
from pharmcheck.fetch.live import classify_exception, retry_after_seconds
from pharmcheck.models import ErrorCode, FetchOptions

URL = "https://pharmacy.example/"


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "resolve", lambda host, port: ["93.184.216.34"])


def transport(**overrides: object) -> tuple[LiveTransport, list[float]]:
    t = LiveTransport(FetchOptions.model_validate({"retries": 2, **overrides}))
    waits: list[float] = []
    t.sleep = waits.append  # record backoff instead of sleeping
    return t, waits


@responses.activate
@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (requests.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused"),
         ErrorCode.connection_refused, "refused"),
        (requests.ConnectTimeout("connect timeout=10"), ErrorCode.timeout, "timed out"),
        (requests.ReadTimeout("read timeout=10"), ErrorCode.timeout, "timed out"),
        (requests.exceptions.SSLError(ssl.SSLCertVerificationError(
            1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)")),
         ErrorCode.tls, "self-signed certificate"),
        (requests.exceptions.SSLError("certificate verify failed: certificate has expired"),
         ErrorCode.tls, "certificate has expired"),
        (requests.exceptions.SSLError("Hostname mismatch, certificate is not valid for 'pharmacy.example'"),
         ErrorCode.tls, "another host name"),
        (requests.ConnectionError("Connection reset by peer"), ErrorCode.connection, "reset"),
    ],
)
def test_each_failure_has_its_kind_and_a_readable_reason(exc: Exception, code: ErrorCode, words: str) -> None:
    responses.add(responses.GET, URL, body=exc)
    t, _ = transport(retries=0)
    resp = t.exchange(URL, Deadline(10))
    assert resp.error is not None
    assert resp.error.code == code
    assert words in resp.error.message


def test_dns_failure_is_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(host: str, port: int) -> list[str]:
        raise guard.Unresolvable(f"cannot resolve {host}: [Errno -2] Name or service not known")

    monkeypatch.setattr(guard, "resolve", fail)
    t, waits = transport()
    resp = t.exchange("https://no-such-pharmacy.example/", Deadline(10))
    assert resp.error is not None and resp.error.code == ErrorCode.dns
    assert waits == []  # a missing name does not come back in a second


@responses.activate
def test_5xx_is_retried_with_growing_backoff() -> None:
    responses.add(responses.GET, URL, status=502)
    responses.add(responses.GET, URL, status=500)
    responses.add(responses.GET, URL, body="<p>ok</p>", content_type="text/html")
    t, waits = transport()
    resp = t.exchange(URL, Deadline(30))
    assert resp.status == 200 and resp.body == b"<p>ok</p>"
    assert waits == [0.5, 1.0]


@responses.activate
def test_retries_run_out() -> None:
    responses.add(responses.GET, URL, status=503)
    t, waits = transport(retries=2)
    assert t.exchange(URL, Deadline(30)).status == 503
    assert len(responses.calls) == 3 and len(waits) == 2


@responses.activate
@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_client_errors_are_not_retried(status: int) -> None:
    responses.add(responses.GET, URL, status=status)
    t, waits = transport()
    assert t.exchange(URL, Deadline(30)).status == status
    assert len(responses.calls) == 1 and waits == []


@responses.activate
def test_connection_errors_are_retried_and_tls_errors_are_not() -> None:
    responses.add(responses.GET, URL, body=requests.ConnectionError("Connection reset by peer"))
    responses.add(responses.GET, URL, body="<p>ok</p>", content_type="text/html")
    t, _ = transport()
    assert t.exchange(URL, Deadline(30)).status == 200
    responses.reset()
    responses.add(responses.GET, URL, body=requests.exceptions.SSLError("certificate verify failed: x"))
    t, waits = transport()
    assert t.exchange(URL, Deadline(30)).error is not None and waits == []


@responses.activate
def test_retry_after_is_honoured_within_the_deadline() -> None:
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "3"})
    responses.add(responses.GET, URL, status=200, body="ok", content_type="text/html")
    t, waits = transport()
    assert t.exchange(URL, Deadline(30)).status == 200 and waits == [3.0]
    responses.reset()
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "3"})
    t, waits = transport()
    assert t.exchange(URL, Deadline(2)).status == 429 and waits == []  # longer than the time left


def test_retry_after_forms() -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("") is None and retry_after_seconds("soon") is None


@responses.activate
def test_gzip_body_is_cut_after_decompression() -> None:
    raw = gzip.compress(b"<p>" + b"a" * 5_000_000)
    responses.add(responses.GET, URL, body=raw, content_type="text/html", headers={"Content-Encoding": "gzip"})
    t, _ = transport(max_bytes=100_000)
    resp = t.exchange(URL, Deadline(10))
    assert resp.truncated and len(resp.body) == 100_000 and resp.body.startswith(b"<p>aaa")
    assert resp.error is not None and resp.error.code == ErrorCode.too_large


@responses.activate
def test_corrupt_gzip_is_a_connection_error_not_a_crash() -> None:
    responses.add(responses.GET, URL, body=b"\x1f\x8b\x08\x00garbage" * 100, content_type="text/html",
                  headers={"Content-Encoding": "gzip"})
    t, _ = transport(retries=0)
    resp = t.exchange(URL, Deadline(10))
    assert resp.error is not None and resp.error.code == ErrorCode.connection


def test_body_decoder_handles_deflate_both_ways_and_stacked_gzip() -> None:
    data = b"<html>" + b"x" * 10_000
    assert BodyDecoder("deflate").feed(zlib.compress(data), 10**6) == data
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    assert BodyDecoder("deflate").feed(raw.compress(data) + raw.flush(), 10**6) == data
    assert BodyDecoder("gzip, gzip").feed(gzip.compress(gzip.compress(data)), 10**6) == data
    assert BodyDecoder("gzip").feed(gzip.compress(data), 100) == data[:100]


def test_sniff_binary() -> None:
    assert sniff_binary(b"%PDF-1.7\n...") == "PDF"
    assert sniff_binary(b"\x89PNG\r\n\x1a\n....") == "PNG image"
    assert sniff_binary(bytes(range(256))) == "binary data"
    assert sniff_binary(b"<html><p>a\x00b</p>" + b"\x00" * 500) is None  # markup with stray NULs
    assert sniff_binary(b"\xff\xfe<\x00h\x00t\x00m\x00l\x00") is None  # UTF-16 with a BOM
    assert sniff_binary("Plain text, déjà vu".encode()) is None


def test_classify_guard_refusal() -> None:
    code, message = classify_exception(requests.ConnectionError(guard.Blocked("connected address 10.0.0.1 is not public")))
    assert code == ErrorCode.blocked_private and "10.0.0.1" in message


@responses.activate
def test_unasked_content_encoding_is_reported() -> None:
    responses.add(responses.GET, URL, body=b"\x8b\x0b\x80<html>", content_type="text/html",
                  headers={"Content-Encoding": "br"})
    t, _ = transport(retries=0)
    resp = t.exchange(URL, Deadline(10))
    assert resp.error is not None and resp.error.code == ErrorCode.connection and "'br'" in resp.error.message
