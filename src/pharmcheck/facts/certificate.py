"""TLS certificate facts of the final URL: issuer, subject, validity, self-signed, expired,
the names it covers (a certificate shared with other pharmacy-looking domains is a network
signal, networks/), and whether a verifying client trusted it.

The certificate the crawl's own (verifying) connection got is used when there is one. When
the crawl's handshake failed (the certificate is self-signed, expired, for another name...),
this provider makes its own handshake, through the SSRF guard and
--resolve, first verifying (to learn why it fails) and then without verifying, only to read
the certificate. Its DER travels in the fact's `raw` (the WARC record), not in reports."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from datetime import datetime
from typing import TYPE_CHECKING

from pharmcheck.facts.interface import FactEnv, FactTarget, Need, could_not_check
from pharmcheck.facts.registry import register
from pharmcheck.fetch import guard
from pharmcheck.fetch.base import Deadline
from pharmcheck.models import SiteFact
from pharmcheck.urls import endpoint

if TYPE_CHECKING:
    from cryptography import x509

# cryptography is imported where a certificate is read (~20 ms a process that reads none).

MAX_SANS = 200  # names kept in the fact (a CDN certificate may name thousands)


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()


def _common_name(name: x509.Name) -> str:
    from cryptography.x509.oid import NameOID

    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # any failure (a key type it cannot verify...): not signed by its own key
        return False
    return True


def describe_certificate(der: bytes, now: datetime) -> dict[str, object]:
    """The fields of a DER certificate, as the `tls` fact records them; ValueError if unparsable."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    sans: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [str(n).lower() for n in ext.get_values_for_type(x509.DNSName)][:MAX_SANS]
    return {
        "subject": _name(cert.subject),
        "subject_cn": _common_name(cert.subject),
        "issuer": _name(cert.issuer),
        "issuer_cn": _common_name(cert.issuer),
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "expired": now > not_after,
        "not_yet_valid": now < not_before,
        "self_signed": _self_signed(cert),
        "sans": sans,
        "sha256": hashlib.sha256(der).hexdigest(),
    }


class CertificateProvider:
    name = "tls"
    needs = Need.certificate
    live = False  # reading the crawl's certificate asks nothing; its own handshake is skipped offline

    def gather(self, target: FactTarget, deadline: Deadline, env: FactEnv) -> SiteFact | None:
        scheme, host, port = endpoint(target.url)
        if scheme != "https" or not host:
            return None
        subject = f"{host}:{port}"
        der, trusted, verify_error = target.certificate, True, ""
        if not der:
            if not target.tls_refused:
                return None  # no handshake was refused: nothing to learn (a proxy, a mocked transport)
            if env.options.offline or deadline.expired():
                return None if env.options.offline else could_not_check(self.name, subject, "site deadline reached", env)
            try:
                der, trusted, verify_error = _handshake(host, port, deadline, env)
            except (OSError, guard.Blocked, guard.Unresolvable) as exc:
                return could_not_check(self.name, subject, f"no TLS handshake: {str(exc)[:200]}", env)
        try:
            data = describe_certificate(der, env.clock())
        except ValueError as exc:
            return could_not_check(self.name, subject, f"unreadable certificate: {str(exc)[:200]}", env)
        data.update(trusted=trusted, verify_error=verify_error)
        return SiteFact(provider=self.name, subject=subject, source=target.url, gathered_at=env.now_iso(),
                        data=data, raw=der)


def _handshake(host: str, port: int, deadline: Deadline, env: FactEnv) -> tuple[bytes, bool, str]:
    """(DER, trusted by a verifying client, why not): a verifying handshake, then, if it
    fails on the certificate, one that only reads it."""
    import ssl  # here, not at the top: a check of a capture makes no TLS handshake

    address = _address(host, port, env)
    try:
        return _peer_certificate(address, host, port, deadline, env, verify=True), True, ""
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or str(exc)
    return _peer_certificate(address, host, port, deadline, env, verify=False), False, reason[:200]


def _address(host: str, port: int, env: FactEnv) -> str:
    pinned = env.options.resolve_map().get((host.lower(), port))
    if env.options.allow_private:
        return pinned or guard.resolve(host, port)[0]
    return guard.check_host(host, port, pinned)[0]


def _trust_store() -> str | None:
    """The CA bundle the page fetcher (requests) trusts, so both judge a certificate alike."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        return bundle
    try:
        import certifi

        return str(certifi.where())
    except ImportError:  # pragma: no cover - requests depends on certifi
        return None


def _peer_certificate(address: str, host: str, port: int, deadline: Deadline, env: FactEnv, verify: bool) -> bytes:
    import ssl

    context = ssl.create_default_context(cafile=_trust_store() if verify else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address, port), timeout=env.timeout(deadline)) as raw:
        if not env.options.allow_private:
            guard.check_peer(str(raw.getpeername()[0]))
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.getpeercert(binary_form=True) or b""


register(CertificateProvider())
