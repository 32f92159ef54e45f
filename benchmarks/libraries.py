"""Hand-written parts against the well-kept libraries that do the same job, measured.

    python benchmarks/libraries.py [--runs N]

For each of phone numbers (phonenumbers), prices (price-parser) and host names (idna, UTS 46)
prints the cost per 150 KB listing page (or per host) of ours and of the library, and what
each gets right on a few made-up cases, so that a replacement is decided on figures. For
retries (urllib3's `Retry` mounted on a requests session against our LiveTransport loop) it
serves 503 + Retry-After from a local server and times a fetch that has a site deadline.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import idna
import phonenumbers
from price_parser import Price as LibPrice

from analysis import listing_page
from pharmcheck.extract import _phones, _prices, extract_page
from pharmcheck.fetch.base import Deadline
from pharmcheck.fetch.live import LiveTransport
from pharmcheck.models import FetchOptions, Response
from pharmcheck.urls import _idna_host

CONTACT_TEXT = (
    "Call us on +44 20 7946 0958 or 020 7946 0958 (UK), US customers 1-800-555-0199, "
    "Germany +49 30 901820, Fax: (212) 555-0147. Order no. 2024-11-25-00017 shipped; "
    "licence 1234567890; 4.7 out of 5 from 12,345 reviews; batch 0031 4402 9981."
)
PHONE_TRUTH = {"+44 20 7946 0958", "020 7946 0958", "1-800-555-0199", "+49 30 901820", "(212) 555-0147"}
PRICE_CASES = {"$12.99": (12.99, "USD"), "€1.299,00": (1299.0, "EUR"), "£5": (5.0, "GBP"),
               "1,234.50 USD": (1234.5, "USD"), "19,99 €": (19.99, "EUR"), "CA$7.50": (7.5, "CAD")}
HOSTS = ["www.northbridge-pharmacy.example", "shop.example.co.uk", "bücher.example", "faß.example", "ドメイン.example"]


def timed(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def lib_phones(text: str) -> list[str]:
    return [m.raw_string for m in phonenumbers.PhoneNumberMatcher(text, "GB", leniency=phonenumbers.Leniency.VALID)]


class _BusyThenOk(BaseHTTPRequestHandler):
    """503 with `Retry-After: <server.after>` on every first request of a path, then 200."""

    def do_GET(self) -> None:
        seen: set[str] = self.server.seen  # type: ignore[attr-defined]
        first = self.path not in seen
        seen.add(self.path)
        body = b"busy" if first else b"<html><body>ok</body></html>"
        self.send_response(503 if first else 200)
        if first:
            self.send_header("Retry-After", str(self.server.after))  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def retries(site_deadline: float) -> None:
    """A site deadline against Retry-After: urllib3 sleeps whatever the server asks; ours
    retries only when the wait fits the deadline, else keeps the server's answer."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    server = ThreadingHTTPServer(("127.0.0.1", 0), _BusyThenOk)
    server.seen = set()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for after in (1, 8):
            server.after = after  # type: ignore[attr-defined]
            session = requests.Session()
            session.mount("http://", HTTPAdapter(max_retries=Retry(total=2, status_forcelist=[503],
                                                                   respect_retry_after_header=True)))
            started = time.perf_counter()
            lib_status = session.get(f"{base}/lib-{after}", timeout=site_deadline).status_code
            lib_time = time.perf_counter() - started
            ours = LiveTransport(FetchOptions(allow_private=True, retries=2, timeout=site_deadline))
            started = time.perf_counter()
            our_status = ours.exchange(f"{base}/ours-{after}", Deadline(site_deadline)).status
            our_time = time.perf_counter() - started
            print(f"retries Retry-After {after} s, site deadline {site_deadline:g} s: urllib3 Retry {lib_time:5.2f} s "
                  f"(status {lib_status})   ours {our_time:5.2f} s (status {our_status})")
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--site-deadline", type=float, default=3.0, help="for the retry case (seconds)")
    args = parser.parse_args()
    retries(args.site_deadline)
    page = listing_page()
    text = extract_page(Response(url="https://pharmacy.example/", final_url="https://pharmacy.example/", status=200,
                                 content_type="text/html", body=page)).text
    with_contact = text + "\n" + CONTACT_TEXT

    ours = timed(lambda: _phones(with_contact), args.runs)
    lib = timed(lambda: lib_phones(with_contact), max(3, args.runs // 4))
    ours_found, lib_found = set(_phones(CONTACT_TEXT)), set(lib_phones(CONTACT_TEXT))
    print(f"phones  per page: ours {ours * 1000:7.2f} ms   phonenumbers {lib * 1000:7.2f} ms  ({len(page) // 1000} KB page)")
    print(f"        on the contact text: ours found {len(ours_found & PHONE_TRUTH)}/{len(PHONE_TRUTH)} "
          f"(+{len(ours_found - PHONE_TRUTH)} wrong), phonenumbers {len(lib_found & PHONE_TRUTH)}/{len(PHONE_TRUTH)} "
          f"(+{len(lib_found - PHONE_TRUTH)} wrong)")

    candidates = [p.text for p in _prices(text)]
    ours = timed(lambda: _prices(text), args.runs)
    lib = timed(lambda: [LibPrice.fromstring(c) for c in candidates], args.runs)
    ours_ok = sum(1 for raw, want in PRICE_CASES.items()
                  if [(p.amount, p.currency) for p in _prices(raw)] == [want])
    lib_ok = sum(1 for raw, (amount, _) in PRICE_CASES.items()
                 if LibPrice.fromstring(raw).amount_float == amount)
    print(f"prices  per page: ours (find + parse) {ours * 1000:7.2f} ms   price-parser (parse only, {len(candidates)} "
          f"found by ours) {lib * 1000:7.2f} ms")
    print(f"        cases right: ours {ours_ok}/{len(PRICE_CASES)} (amount and currency), "
          f"price-parser {lib_ok}/{len(PRICE_CASES)} (amount; it finds no price in running text)")

    n = 3000  # links kept per page: each one's host is normalised
    runs = max(3, args.runs // 4)
    ascii_only = [h for h in HOSTS if h.isascii()] * (n // 2)
    codec = timed(lambda: [h.encode("idna") for h in ascii_only], runs)
    lib = timed(lambda: [idna.encode(h, uts46=True) for h in ascii_only], runs)
    ours = timed(lambda: [_idna_host(h) for h in ascii_only], runs)
    print(f"hosts   per {n} ASCII hosts: Python's IDNA 2003 codec {codec * 1000:.2f} ms, idna (UTS 46) "
          f"{lib * 1000:.2f} ms, ours (codec for ASCII, idna for the rest) {ours * 1000:.2f} ms")
    for host in HOSTS[2:]:
        print(f"        {host}: codec {host.encode('idna').decode()}   idna {idna.encode(host, uts46=True).decode()}"
              f"   ours {_idna_host(host)}")


if __name__ == "__main__":
    main()
