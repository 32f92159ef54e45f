"""A local web server that behaves like the worst sites a crawler meets.

Used by the hostile-site tests and by benchmarks/hostile.py. Listens on 127.0.0.1 on a
random free port; each path is one hostile behaviour (see `HostileHandler.routes`)."""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections import Counter
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BOMB_EXPANDED = 1 << 30  # 1 GiB of zeros once decompressed
NESTING = 100_000
MANY_LINKS = 100_000
HUGE_LINE_BYTES = 3_000_000
DRIP_INTERVAL = 0.2  # seconds between bytes of a drip-fed response

PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<h1>{title}</h1><p>{text}</p>
<a href="{base}about-us">About us</a> <a href="{base}contact">Contact</a> {extra}
</body></html>"""


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """A gzip stream that expands to 1 GiB of zeros (about 1 MB on the wire), built in
    milliseconds: one member holding 1 MiB of zeros, repeated (RFC 1952 multi-member)."""
    member = gzip.compress(bytes(1 << 20), compresslevel=9, mtime=0)
    return member * (BOMB_EXPANDED >> 20)


def page(title: str, text: str = "A pharmacy page.", base: str = "/", extra: str = "") -> bytes:
    return PAGE.format(title=title, text=text, base=base, extra=extra).encode()


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HostileHandler)
        self.robots = "allow"  # allow | disallow | 503 | 404
        self.hits: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> HostileServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hang up on hostile responses: that is the point, not an error

    def hit(self, path: str) -> int:
        with self.lock:
            self.hits[path] += 1
            return self.hits[path]


class HostileHandler(BaseHTTPRequestHandler):
    server: HostileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        count = self.server.hit(path)
        with contextlib.suppress(OSError):  # the client hung up, as it should on a hostile response
            self.route(path, query, count)

    # --- helpers ---------------------------------------------------------------------------

    def send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str, status: int = 302) -> None:
        self.send(status, b"", Location=location)

    # --- the hostile behaviours -----------------------------------------------------------------

    def route(self, path: str, query: dict[str, list[str]], count: int) -> None:
        if path == "/robots.txt":
            mode = self.server.robots
            if mode == "disallow":
                self.send(200, b"User-agent: *\nDisallow: /\n", "text/plain")
            elif mode == "503":
                self.send(503, b"busy", "text/plain")
            elif mode == "404":
                self.send(404, b"not here", "text/plain")
            else:
                self.send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        elif path.endswith(("/about-us", "/contact")) or path in ("/", "/ok/"):
            base = path.rsplit("/", 1)[0] + "/"
            self.send(200, page("Good page " + path, "We are a licensed pharmacy. Call +1 555 010 9999.", base))
        elif path == "/mixed/":
            # A good site whose other pages are hostile; crawled in this order (see policy.py).
            extra = (
                '<a href="/bomb">Shipping</a> <a href="/binary-html">Payment</a> '
                '<a href="/nested">Reviews</a> <a href="/drip-body">Privacy policy</a>'
            )
            self.send(200, page("Mixed site", "A licensed pharmacy. Prescription required.", "/mixed/", extra))
        elif path == "/dupes/":
            # One page, many spellings: it must be fetched once.
            port = self.server.port
            spellings = ["/ok/about-us", "/ok/./about-us#team", "/OK/../ok/about-us",
                         f"http://127.0.0.1:{port}/ok/about-us", f"HTTP://127.0.0.1:{port}/ok/about-us#x"]
            extra = " ".join(f'<a href="{href}">About us</a>' for href in spellings)
            self.send(200, page("Dupes", base="/dupes/", extra=extra))
        elif path == "/slow":
            with self.server.lock:
                self.server.in_flight += 1
                self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
            time.sleep(0.3)
            with self.server.lock:
                self.server.in_flight -= 1
            self.send(200, page("Slow"))
        elif path == "/drip-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            while True:  # header bytes, one at a time, never finishing
                self.wfile.write(b"X")
                self.wfile.flush()
                time.sleep(DRIP_INTERVAL)
        elif path == "/drip-body":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body><p>slow")
            while True:
                self.wfile.write(b".")
                self.wfile.flush()
                time.sleep(DRIP_INTERVAL)
        elif path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><head><title>Endless</title></head><body>")
            chunk = b"<p>more and more text</p>\n" * 4000
            while True:
                self.wfile.write(chunk)
        elif path == "/bomb":
            bomb = gzip_bomb()
            self.send(200, bomb, "text/html", Content_Encoding="gzip")
        elif path == "/corrupt-gzip":
            # Declared gzip; the bytes after the magic number are not a deflate stream.
            self.send(200, b"\x1f\x8b\x08\x00" + bytes(range(256)) * 8, "text/html", Content_Encoding="gzip")
        elif path == "/loop/a":
            self.redirect("/loop/b")
        elif path == "/loop/b":
            self.redirect("/loop/a")
        elif path == "/chain":
            n = int(query.get("n", ["0"])[0])
            self.redirect(f"/chain?n={n + 1}")
        elif path == "/redirect":
            self.redirect(query["to"][0])
        elif path == "/nested":
            body = (
                "<html><head><title>Deep</title></head><body><p>Start of the page.</p>"
                + "<div>" * NESTING + "Deep inside the nesting." + "</div>" * NESTING
                + '<p>After the nesting: <a href="/ok/contact">contact us</a></p></body></html>'
            )
            self.send(200, body.encode())
        elif path == "/many-links":
            links = "".join(f'<a href="/p/{i}">p{i}</a>' for i in range(MANY_LINKS))
            self.send(200, f"<html><head><title>Links</title></head><body>{links}</body></html>".encode())
        elif path == "/huge-line":
            body = b"<html><head><title>One line</title></head><body><p>" + b"pills " * (HUGE_LINE_BYTES // 6)
            self.send(200, body)
        elif path == "/nul":
            body = b"<html><head><title>Nul\x00bytes</title></head><body><p>Safe\x00 text</p>" + b"\x00" * 10000
            self.send(200, body)
        elif path == "/binary-html":
            png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
            self.send(200, png, "text/html")
        elif path == "/garbage-html":
            self.send(200, bytes((i * 7919) % 256 for i in range(20000)), "text/html")
        elif path == "/pdf":
            self.send(200, b"%PDF-1.4\n" + bytes(5000), "application/pdf")
        elif path == "/wrong-charset":
            # Declared UTF-8, really windows-1252.
            body = "<html><head><title>Café</title></head><body><p>Prix: 12 € la boîte</p></body></html>"
            self.send(200, body.encode("cp1252"), "text/html; charset=utf-8")
        elif path == "/bogus-charset":
            body = "<html><head><title>Café</title></head><body><p>Prix: 12 € la boîte</p></body></html>"
            self.send(200, body.encode("utf-8"), "text/html; charset=x-klingon")
        elif path == "/latin1-lie":
            # Declared latin-1, really UTF-8 (a common server misconfiguration).
            body = "<html><head><title>Café</title></head><body><p>Prix: 12 € la boîte</p></body></html>"
            self.send(200, body.encode("utf-8"), "text/html; charset=iso-8859-1")
        elif path == "/retry-429":
            if count == 1:
                self.send(429, b"slow down", "text/plain", Retry_After="1")
            else:
                self.send(200, page("After 429"))
        elif path == "/retry-503":
            if count == 1:
                self.send(503, b"try again", "text/plain")
            else:
                self.send(200, page("After 503"))
        elif path == "/always-503":
            self.send(503, b"down", "text/plain")
        elif path == "/retry-after-long":
            self.send(429, b"come back tomorrow", "text/plain", Retry_After="86400")
        elif path == "/status":
            self.send(int(query["code"][0]), b"status", "text/plain")
        elif path == "/not-found":
            self.send(404, b"missing", "text/plain")
        else:
            self.send(404, b"no such case", "text/plain")


if __name__ == "__main__":
    srv = HostileServer().start()
    print(srv.base)
    srv.thread.join()
