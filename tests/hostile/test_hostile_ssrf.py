"""The SSRF guard against a live local server: odd spellings of loopback, redirects from a
"public" host to 127.0.0.1 and to the cloud metadata address, and DNS rebinding.

A "public" host is simulated by patching the guard's resolver so `localhost` resolves to a
public address for the check, while the socket really goes to 127.0.0.1."""

from __future__ import annotations

import json
from io import StringIO

import pytest

from hostile.hostile_check import check, codes
from hostile.hostile_server import HostileServer
from pharmcheck.cli import main
from pharmcheck.fetch import guard
from pharmcheck.models import ExitCode, Verdict
from pharmcheck.ruleset import RuleSet

PUBLIC = "93.184.216.34"


@pytest.fixture
def public_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    real_resolve = guard.resolve

    def fake_resolve(host: str, port: int) -> list[str]:
        return [PUBLIC] if host == "localhost" else real_resolve(host, port)

    monkeypatch.setattr(guard, "resolve", fake_resolve)


@pytest.fixture
def trusted_loopback_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The public host's real address is, in this simulation, 127.0.0.1: let the peer check
    accept it, so only the redirect check stands between the crawler and the target."""
    real_check_peer = guard.check_peer
    monkeypatch.setattr(guard, "check_peer", lambda address: None if address == "127.0.0.1" else real_check_peer(address))


@pytest.mark.parametrize("spelling", ["127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]"])
def test_loopback_in_any_spelling_is_refused(
    server: HostileServer, spelling: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://{spelling}:{server.port}/ok/"
    code = main(["check", url, "--format", "json", "--retries", "0"], stderr=StringIO())
    data = json.loads(capsys.readouterr().out)
    assert code == ExitCode.UNREACHABLE
    assert {e["code"] for e in data["errors"]} == {"blocked_private"}
    assert "SSRF guard" in data["errors"][0]["message"]
    assert sum(server.hits.values()) == 0  # refused before connecting


def test_allow_private_turns_the_guard_off(server: HostileServer, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://2130706433:{server.port}/ok/"
    code = main(["check", url, "--format", "json", "--allow-private"], stderr=StringIO())
    data = json.loads(capsys.readouterr().out)
    assert code != ExitCode.UNREACHABLE and data["errors"] == []
    assert server.hits["/ok/"] == 1


@pytest.mark.usefixtures("public_localhost", "trusted_loopback_peer")
@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/ok/", "http://169.254.169.254/latest/meta-data/"])
def test_redirect_from_a_public_host_to_a_private_one_is_refused(
    server: HostileServer, ruleset: RuleSet, target: str
) -> None:
    start = f"http://localhost:{server.port}/redirect?to=" + target.format(port=server.port)
    report = check(start, ruleset, allow_private=False, retries=0)
    assert codes(report) == {"blocked_private"}
    assert report.verdict == Verdict.unreachable
    assert server.hits["/redirect"] == 1  # the public host was fetched...
    assert server.hits["/ok/"] == 0  # ...the private target never was


@pytest.mark.usefixtures("public_localhost", "trusted_loopback_peer")
def test_public_host_passes_the_guard(server: HostileServer, ruleset: RuleSet) -> None:
    # The counterpart of the test above: the simulation itself lets a public site through.
    report = check(f"http://localhost:{server.port}/ok/", ruleset, allow_private=False)
    assert report.verdict != Verdict.unreachable and report.errors == []


@pytest.mark.usefixtures("public_localhost")
def test_dns_rebinding_is_caught_by_the_peer_check(server: HostileServer, ruleset: RuleSet) -> None:
    # The name passes the resolver check (public) but the socket lands on 127.0.0.1.
    report = check(f"http://localhost:{server.port}/ok/", ruleset, allow_private=False, retries=0)
    assert codes(report) == {"blocked_private"}
    assert "connected address" in report.errors[0].message
    assert sum(server.hits.values()) == 0  # refused before a request was sent


def test_other_schemes_are_refused_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    err = StringIO()
    code = main(["check", "ftp://pharmacy.example/"], stderr=err)
    assert code == ExitCode.USAGE
    assert "only http and https" in err.getvalue()
