"""The SSRF guard's address rules, in every spelling and embedding."""

from __future__ import annotations

import pytest

from pharmcheck.fetch import guard


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "2130706433", "0x7f.1", "0x7f000001", "0177.0.0.1", "127.1", "localhost",
        "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1",  # private, carrier-grade NAT
        "169.254.169.254",  # link-local: cloud metadata
        "0.0.0.0", "0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
        "::1", "[::1]", "::", "fe80::1", "fc00::1", "ff02::1",
        "::ffff:127.0.0.1", "[::ffff:7f00:1]", "::ffff:169.254.169.254",  # IPv4-mapped
        "2002:7f00:1::", "64:ff9b::a9fe:a9fe",  # 6to4 and NAT64 embeddings of private addresses
    ],
)
def test_non_public_addresses_are_refused(host: str) -> None:
    with pytest.raises(guard.Blocked):
        guard.check_host(host, 80)


@pytest.mark.parametrize("host", ["8.8.8.8", "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:8.8.8.8"])
def test_public_addresses_pass(host: str) -> None:
    assert guard.check_host(host, 80)


def test_a_name_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "resolve", lambda host, port: ["93.184.216.34", "10.0.0.5"])
    with pytest.raises(guard.Blocked, match=r"10\.0\.0\.5"):
        guard.check_host("rebind.example", 443)


def test_names_are_not_mistaken_for_numbers() -> None:
    assert guard.literal_address("deadbeef.example") is None
    assert guard.literal_address("0x7f.1") == "127.0.0.1"
    assert guard.literal_address("1.2.3.4.5") is None


def test_peer_check() -> None:
    guard.check_peer("93.184.216.34")
    with pytest.raises(guard.Blocked, match="DNS rebinding"):
        guard.check_peer("127.0.0.1")
