"""Local servers that speak the protocols of site facts, for the facts tests: an RDAP server
answering RFC 9083 JSON (and counting the queries it gets), and TLS certificates from a
throw-away CA (or self-signed, or expired). Every answer here is made up."""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def rdap_domain(name: str, registered_days_ago: int, redacted: bool = False, registrar: str = "Example Registrar, Inc.",
                now: datetime | None = None) -> dict[str, Any]:
    """An RFC 9083 domain object, as a registry's RDAP server would answer it."""
    now = now or datetime.now(timezone.utc)
    registered = now - timedelta(days=registered_days_ago)

    def stamp(when: datetime) -> str:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    registrant: dict[str, Any] = {
        "objectClassName": "entity", "roles": ["registrant"],
        "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Young Shop Trading Ltd"]]],
    }
    if redacted:
        registrant = {
            "objectClassName": "entity", "roles": ["registrant"],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "REDACTED FOR PRIVACY"]]],
            "remarks": [{"title": "REDACTED FOR PRIVACY", "description": ["Some of the data in this object has been removed."]}],
        }
    return {
        "objectClassName": "domain",
        "rdapConformance": ["rdap_level_0", "icann_rdap_response_profile_1", "redacted"],
        "ldhName": name.upper(),
        "handle": f"D{abs(hash(name)) % 10**9}-TEST",
        "status": ["client transfer prohibited", "active"],
        "events": [
            {"eventAction": "registration", "eventDate": stamp(registered)},
            {"eventAction": "expiration", "eventDate": stamp(registered + timedelta(days=365))},
            {"eventAction": "last changed", "eventDate": stamp(registered + timedelta(days=1))},
            {"eventAction": "last update of RDAP database", "eventDate": stamp(now)},
        ],
        "entities": [
            {"objectClassName": "entity", "roles": ["registrar"], "handle": "9999",
             "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", registrar]]]},
            registrant,
        ],
        "nameservers": [{"objectClassName": "nameserver", "ldhName": "NS1.EXAMPLE-DNS.TEST"},
                        {"objectClassName": "nameserver", "ldhName": "NS2.EXAMPLE-DNS.TEST"}],
        **({"redacted": [{"name": {"type": "Registrant Name"}, "prePath": "$.entities[?(@.roles[0]=='registrant')]",
                          "method": "removal"}]} if redacted else {}),
    }


class RdapServer:
    """An RDAP server on 127.0.0.1: `domains` maps a name to its domain object (or to an HTTP
    status, e.g. 429, with `retry_after`); `delay` seconds before each answer; `hits` counts
    the queries per domain."""

    def __init__(self, domains: dict[str, dict[str, Any] | int] | None = None, delay: float = 0.0,
                 retry_after: str = "120") -> None:
        self.domains: dict[str, dict[str, Any] | int] = dict(domains or {})
        self.delay = delay
        self.retry_after = retry_after
        self.hits: Counter[str] = Counter()
        self.accepts: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1].lower()
                with server._lock:
                    server.hits[name] += 1
                    server.accepts.append(self.headers.get("Accept", ""))
                if server.delay:
                    time.sleep(server.delay)
                answer = server.domains.get(name, 404) if self.path.startswith("/domain/") else 400
                headers = {"Content-Type": "application/rdap+json"}
                if isinstance(answer, int):
                    status, body = answer, json.dumps({"errorCode": answer, "title": "no"}).encode()
                    if answer == 429:
                        headers["Retry-After"] = server.retry_after
                else:
                    status, body = 200, json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())

    def __enter__(self) -> RdapServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- TLS: a throw-away CA and server certificates -------------------------------------------


def server_context(folder: Path, names: list[str], *, self_signed: bool = False, expired: bool = False,
                   ) -> tuple[Path, ssl.SSLContext]:
    """A server certificate for `names` (host names or IP addresses), issued by a throw-away CA
    (or by itself, `self_signed`), valid now or (`expired`) ended yesterday. Returns the PEM a
    client must trust (the CA's, or the certificate itself) and the server's SSL context."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(timezone.utc)
    start, end = (now - timedelta(days=30), now - timedelta(days=1)) if expired else (now - timedelta(days=1), now + timedelta(days=2))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    if self_signed:
        issuer_key, issuer_name, ca_cert = key, subject, None
    else:
        issuer_key = ec.generate_private_key(ec.SECP256R1())
        issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pharmcheck facts test CA")])
        ca_cert = (x509.CertificateBuilder().subject_name(issuer_name).issuer_name(issuer_name)
                   .public_key(issuer_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=60)).not_valid_after(now + timedelta(days=60))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(issuer_key, hashes.SHA256()))
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
               .add_extension(x509.SubjectAlternativeName(sans), critical=False))
    if self_signed:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    cert = builder.sign(issuer_key, hashes.SHA256())
    trust = folder / "trust.pem"
    trust.write_bytes((ca_cert or cert).public_bytes(serialization.Encoding.PEM))
    chain = folder / "server.pem"
    chain.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    return trust, context


# --- DNS: a small UDP server made with dnspython's message API ------------------------------


class DnsServer:
    """Answers A, AAAA, MX and NS questions on 127.0.0.1 (UDP) from `zone`: {(name, type):
    [rdata text]}; a name absent from every key is NXDOMAIN. `silent` drops every question (a
    resolver that times out). Counts the questions it gets."""

    def __init__(self, zone: dict[tuple[str, str], list[str]], silent: bool = False) -> None:
        import socket

        self.zone = {(name.lower().rstrip("."), rdtype): values for (name, rdtype), values in zone.items()}
        self.silent = silent
        self.questions: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:

        import dns.message
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset

        while not self._stop.is_set():
            try:
                wire, client = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text().lower().rstrip(".")
            rdtype = dns.rdatatype.to_text(question.rdtype)
            self.questions.append((name, rdtype))
            if self.silent:
                continue
            response = dns.message.make_response(query)
            values = self.zone.get((name, rdtype))
            if values:
                response.answer.append(dns.rrset.from_text_list(question.name, 300, dns.rdataclass.IN, rdtype, values))
            elif not any(key[0] == name for key in self.zone):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), client)

    def __enter__(self) -> DnsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()
        self.sock.close()


# --- a seal issuer's verification pages -------------------------------------------------------

ISSUER_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "issuers"


class IssuerServer:
    """An issuer's site on 127.0.0.1: `pages` maps a path (with its query) to a fixture name in
    fixtures/issuers/ and the domain it lists; `delay` seconds before each answer; `robots` its
    robots.txt. Counts the requests per path."""

    def __init__(self, pages: dict[str, tuple[str, str]], delay: float = 0.0, robots: str = "") -> None:
        self.pages = pages
        self.delay = delay
        self.robots = robots
        self.hits: Counter[str] = Counter()
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.hits[self.path] += 1
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                finished = False

                def finish() -> None:
                    nonlocal finished
                    if not finished:
                        finished = True
                        with server._lock:
                            server.in_flight -= 1

                try:
                    if server.delay and self.path != "/robots.txt":
                        time.sleep(server.delay)
                    if self.path == "/robots.txt":
                        status, body = (200, server.robots.encode()) if server.robots else (404, b"")
                    elif self.path in server.pages:
                        fixture, listed = server.pages[self.path]
                        query = self.path.rsplit("=", 1)[-1]
                        text = (ISSUER_FIXTURES / fixture).read_text().replace("{listed}", listed).replace("{query}", query)
                        status, body = 200, text.encode()
                    else:
                        status, body = 404, b"<h1>Not found</h1>"
                    # The request stops being "in flight" before its answer leaves: once the
                    # client has the answer it may ask the next thing, which must not race
                    # with this thread's bookkeeping.
                    finish()
                    self.send_response(status)
                    self.send_header("Content-Type", "text/html; charset=utf-8" if status != 404 or body else "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass
                finally:
                    finish()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> IssuerServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
