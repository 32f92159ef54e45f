"""SSRF guard: a checker run over lists nobody vetted must never be turned against the
network it runs in (cloud metadata, admin panels on 10.x, services on localhost).

Two checks, both needed: `check_host` before connecting (refuses the name, and every
redirect target, early and with a readable reason), and `check_peer` on the socket
actually connected (a name that resolves to a public address for the check and to
127.0.0.1 for the connection, i.e. DNS rebinding, is caught there)."""

from __future__ import annotations

import ipaddress
import re
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# What inet_aton accepts: 1 to 4 parts, each decimal, octal (0...) or hex (0x...).
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)


class Blocked(Exception):
    """The address is not a public one; carries a readable reason."""


class Unresolvable(Exception):
    """DNS gave no address for the host."""


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv6 one (mapped, 6to4, Teredo, NAT64), else `ip`."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def literal_address(host: str) -> str | None:
    """The address a host written as an IP literal means, in any spelling the C resolver
    accepts (`2130706433`, `0x7f.1`, `0177.0.0.1`, `[::ffff:127.0.0.1]`); None for names."""
    host = host.strip().strip("[]")
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host.rstrip(".")))
        except OSError:
            return None
    return None


def is_public(address: str) -> bool:
    """True only for globally routable unicast addresses, in any spelling or embedding."""
    literal = literal_address(address)
    if literal is None:
        return False
    ip = _unwrap(ipaddress.ip_address(literal))
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
    """Every address `host` resolves to (tests replace this to fake public names)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise Unresolvable(f"cannot resolve {host}: {exc}") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise Unresolvable(f"cannot resolve {host}: no address")
    return addresses


def check_host(host: str, port: int, pinned: str | None = None) -> list[str]:
    """Resolve `host` and refuse it unless every address is public (a host with one private
    address among public ones is refused too: the client may pick either). `pinned` is the
    address --resolve gives for it: checked instead of asking DNS."""
    if pinned is not None:
        if not is_public(pinned):
            raise Blocked(f"{host} is pinned by --resolve to non-public address {pinned}")
        return [pinned]
    literal = literal_address(host)
    if literal is not None:
        if not is_public(literal):
            plain = str(_unwrap(ipaddress.ip_address(literal)))
            spelled = "" if plain == host.strip("[]") else f" (written {host})"
            raise Blocked(f"{plain}{spelled} is not a public address")
        return [literal]
    addresses = resolve(host, port)
    bad = [a for a in addresses if not is_public(a)]
    if bad:
        raise Blocked(f"{host} resolves to non-public address {bad[0]}")
    return addresses


def check_peer(address: str) -> None:
    """Check the address a socket actually connected to (defeats DNS rebinding)."""
    if not is_public(address):
        raise Blocked(f"connected address {address} is not public (DNS rebinding?)")
