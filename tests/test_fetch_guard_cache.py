"""The SSRF guard's DNS check, asked once per host per run (HostLimiter.checked_public)
instead of before every request: what passed is remembered for a while, what was refused or
did not resolve is asked again, and each run (limiter) starts with nothing remembered."""

from __future__ import annotations

import time

import pytest
import responses

from pharmcheck.fetch import HostLimiter, LiveTransport, guard
from pharmcheck.fetch import live as live_module
from pharmcheck.fetch.base import Deadline
from pharmcheck.models import ErrorCode, FetchOptions


class _Resolver:
    """guard.resolve stand-in: each host's answers in turn (the last one repeated), counted."""

    def __init__(self, answers: dict[str, list[list[str] | None]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        queue = self.answers[host]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if answer is None:
            raise guard.Unresolvable(f"cannot resolve {host}: [Errno -2] Name or service not known")
        return answer


def _fetch(transport: LiveTransport, *urls: str) -> list[ErrorCode | int]:
    out: list[ErrorCode | int] = []
    for url in urls:
        resp = transport.exchange(url, Deadline(30))
        out.append(resp.error.code if resp.error else resp.status)
    return out


@responses.activate
def test_a_host_that_passed_is_not_resolved_again_within_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = _Resolver({"a.example": [["93.184.216.34"]], "b.example": [["93.184.216.35"]]})
    monkeypatch.setattr(guard, "resolve", resolver)
    for host in ("a.example", "b.example"):
        responses.add(responses.GET, f"https://{host}/1", body="x")
        responses.add(responses.GET, f"https://{host}/2", body="x")
    limiter = HostLimiter(per_host=2)
    first = LiveTransport(FetchOptions(retries=0), limiter)
    second = LiveTransport(FetchOptions(retries=0), limiter)  # another site of the same run
    seen = _fetch(first, "https://a.example/1", "https://a.example/2", "https://b.example/1")
    seen += _fetch(second, "https://A.example/2", "https://b.example/2")
    assert seen == [200] * 5
    assert resolver.asked == ["a.example", "b.example"]


@responses.activate
def test_refused_and_unresolvable_hosts_are_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = _Resolver({"flaky.example": [None, ["93.184.216.34"]],
                          "private.example": [["10.0.0.5"], ["93.184.216.36"]]})
    monkeypatch.setattr(guard, "resolve", resolver)
    for host in ("flaky.example", "private.example"):
        responses.add(responses.GET, f"https://{host}/", body="x")
    transport = LiveTransport(FetchOptions(retries=0))
    seen = _fetch(transport, *["https://flaky.example/"] * 3, *["https://private.example/"] * 3)
    assert seen == [ErrorCode.dns, 200, 200, ErrorCode.blocked_private, 200, 200]
    assert resolver.asked == ["flaky.example"] * 2 + ["private.example"] * 2


@responses.activate
def test_a_pass_stands_for_guard_ttl_only_and_for_one_run_only(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = _Resolver({"a.example": [["93.184.216.34"], ["10.0.0.5"]]})
    monkeypatch.setattr(guard, "resolve", resolver)
    responses.add(responses.GET, "https://a.example/", body="x")
    limiter = HostLimiter(per_host=2)
    transport = LiveTransport(FetchOptions(retries=0), limiter)
    assert _fetch(transport, "https://a.example/", "https://a.example/") == [200, 200]
    (key, until), = limiter.public.items()
    assert key == ("a.example", 443, None)
    assert 0 < until - time.monotonic() <= live_module.GUARD_TTL
    limiter.public[key] = time.monotonic() - 0.001  # the pass has run out
    assert _fetch(transport, "https://a.example/") == [ErrorCode.blocked_private]  # asked again: now private
    assert len(resolver.asked) == 2
    resolver.answers["a.example"] = [["93.184.216.34"]]
    fresh = LiveTransport(FetchOptions(retries=0))  # a run of its own: its own limiter
    assert _fetch(fresh, "https://a.example/") == [200]
    assert len(resolver.asked) == 3


def test_the_remembered_hosts_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "resolve", lambda host, port: ["93.184.216.34"])
    monkeypatch.setattr(live_module, "_GUARD_PRUNE_AT", 16)
    monkeypatch.setattr(live_module, "GUARD_TTL", 1e-9)  # every pass has run out by the next host
    limiter = HostLimiter(per_host=2)
    for i in range(200):
        limiter.checked_public(f"h{i}.example", 443, None)
    assert len(limiter.public) <= 16
