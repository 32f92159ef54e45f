"""SSRF guard: a checker run over lists nobody vetted must never be turned against the
network it runs in (cloud metadata, admin panels on 10.x, services on localhost)."""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Blocked(Exception):
    """The address is not a public one; carries a readable reason."""


class Unresolvable(Exception):
    """DNS gave no address for the host."""


def _unwrap(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
    return ip


def is_public(address: str) -> bool:
    """True only for globally routable unicast addresses, in any spelling or embedding."""
    try:
        ip = _unwrap(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return False
    return bool(
        ip.is_global
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_private
        and not ip.is_unspecified
    )


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"cannot resolve {host}: {exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


def check_host(host: str, port: int) -> list[str]:
    """Resolve `host` and refuse it unless every address is public (a host with one private
    address among public ones is refused too: the client may pick either)."""
    addresses = resolve(host, port)
    bad = [a for a in addresses if not is_public(a)]
    if bad:
        raise Blocked(f"{host} resolves to non-public address {bad[0]}")
    return addresses


def check_peer(address: str) -> None:
    """Check the address a socket actually connected to (defeats DNS rebinding)."""
    if not is_public(address):
        raise Blocked(f"connected address {address} is not public")
