"""Made-up shops for the network and diff tests: each on its own loopback address, over
HTTP or (with a throw-away CA) HTTPS. Every sentence here is written for these tests."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Routes = dict[str, str]


class ShopServer:
    """One site on host:random port; `routes` may be changed between audits."""

    def __init__(self, host: str, routes: Routes, tls: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = server.routes.get(self.path)
                data = (body or "<h1>Not found</h1>").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{host}:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_certificate(folder: Path, ips: list[str]) -> tuple[Path, ssl.SSLContext]:
    """A throw-away CA (its PEM written to folder/ca.pem) and one server certificate for all
    `ips`: the certificate a network's storefronts share."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pharmcheck test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shared storefront")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = folder / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = folder / "server.pem"
    chain.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
                      + cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    return ca_pem, context


# --- the shops -----------------------------------------------------------------------------

def _page(title: str, body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><title>{title}</title>{head}</head><body>{body}</body></html>"


GTM_SNIPPET = ("<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':new Date().getTime()});"
               "})(window,document,'script','dataLayer','GTM-7QX2KPL');</script>")
SHARED_PHONE = "+44 20 7946 0321"

# Network A: three new domains, each with its own look and words, one GTM container and phone.
_A_SHOPS = [
    ("Blue Harbour Meds", "Order generic tablets with quick dispatch from our warehouse.", "section", "promo"),
    ("Quickpill Direct", "Your favourite pills shipped in plain packaging to any address.", "article", "hero"),
    ("Medsaver Express", "Savings on every pack of tablets, every single day of the year.", "main", "banner"),
]


def network_a(index: int) -> Routes:
    name, pitch, tag, cls = _A_SHOPS[index]
    return {
        "/": _page(name, f"<{tag} class='{cls}'><h1>{name}</h1><p>{pitch}</p>"
                         f"<a href='/contact'>Contact</a></{tag}>", GTM_SNIPPET),
        "/contact": _page(f"{name} contact", f"<{tag}><p>Phone us: {SHARED_PHONE}</p>"
                                             f"<p>Write to help@{name.split()[0].lower()}-{index}.test</p></{tag}>",
                          GTM_SNIPPET),
    }


# Network B: one template, three storefronts with their own name, colours, logo and contacts.
_B_SHOPS = [("Pharma Oasis", "#0a7", "oasis.png", "+1 415 555 0101"),
            ("Remedy Lane", "#c30", "lane.svg", "+1 312 555 0177"),
            ("Tablet Terrace", "#33f", "terrace.gif", "+1 617 555 0142")]
_B_BOILERPLATE = [
    "We deliver your order in discreet packaging within five to nine working days.",
    "Every parcel is insured and tracked from our dispatch centre to your door.",
    "If a parcel is seized at customs we reship it free of charge, no questions asked.",
    "Our support agents answer messages around the clock, seven days a week.",
    "Pay by card, bank transfer or e-wallet; your statement shows a neutral name.",
    "Bulk packs come with extra tablets and a loyalty discount on the next order.",
    "Returns of unopened packs are accepted within thirty days of delivery.",
    "All prices include shipping and handling; there are no hidden fees at checkout.",
]


def network_b(index: int) -> Routes:
    name, colour, logo, phone = _B_SHOPS[index]
    style = f"<style>.top{{background:{colour}}} a{{color:{colour}}}</style>"
    nav = ("<div class='top'><img class='logo' src='/img/" + logo + f"' alt='{name}'><ul class='menu'>"
           "<li><a href='/'>Home</a></li><li><a href='/delivery'>Delivery</a></li></ul></div>")
    items = "".join(f"<li class='point'>{line}</li>" for line in _B_BOILERPLATE)
    footer = f"<div class='foot'><p>{name} customer care: {phone}</p></div>"
    return {
        "/": _page(name, nav + f"<div class='body'><h1>Welcome to {name}</h1><ul class='points'>{items}</ul></div>"
                   + footer, style),
        "/delivery": _page(f"{name} delivery", nav + "<div class='body'><h2>Delivery</h2><ul class='points'>"
                           + items + "</ul><p>Orders placed before noon leave the same day.</p></div>" + footer, style),
    }


# Network C: different shops behind one certificate (its SANs name all three).
_C_SHOPS = [
    ("Northern Lights Chemist", "Vitamins, allergy relief and travel health, sent across the county."),
    ("Canal Street Dispensary", "Asthma inhalers and repeat medicines for our registered patients."),
    ("Orchard Health Store", "Herbal teas, skincare and first aid kits for the whole family."),
]


def network_c(index: int) -> Routes:
    name, pitch = _C_SHOPS[index]
    return {"/": _page(name, f"<h{index + 1}>{name}</h{index + 1}><p>{pitch}</p><p>Reach us at "
                             f"desk{index}@orchard-{index}.test</p>")}


# Unrelated sites sharing one theme (markup, stylesheet, footer credit) and one CDN, and the
# theme demo's placeholder tag manager ID: none of that may link them.
_THEME_HEAD = ("<link rel='stylesheet' href='https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/css/bootstrap.min.css'>"
               "<link rel='stylesheet' href='/wp-content/themes/medishop/style.css'>"
               "<script src='https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/js/bootstrap.bundle.min.js'></script>"
               "<script>dataLayer.push({'id': 'GTM-XXXXXXX'});</script>")
_THEMED = [
    ("Riverside Family Pharmacy", "Flu vaccinations every Tuesday morning, walk in or book a slot online. "
     "Our pharmacist reviews repeat prescriptions for older patients and delivers to care homes nearby.",
     "+44 161 496 0801"),
    ("Greenway Wellness", "Yoga mats, protein bars and natural sleep aids picked by our nutrition team. "
     "Subscribe to the monthly box and swap any product you did not enjoy for a different one.",
     "+44 113 496 0412"),
    ("Hilltop Veterinary Supplies", "Flea treatments, worming tablets and prescription diets for cats and dogs. "
     "Vets in the valley send their orders here and collect them from the counter on Fridays.",
     "+44 117 496 0933"),
    ("Seaside Optician and Pharmacy", "Contact lenses, reading glasses, eye drops and sun cream for the beach. "
     "Free eye tests for children under sixteen and students with a valid card from the college.",
     "+44 1273 960 554"),
]


def themed(index: int) -> Routes:
    name, text, phone = _THEMED[index]
    body = ("<header class='site-header'><nav class='navbar'><a class='brand' href='/'>" + name + "</a></nav></header>"
            f"<main class='container'><h1>{name}</h1><p>{text}</p><p>Telephone {phone}</p></main>"
            "<footer class='site-footer'><p>MediShop theme by ThemeForge</p></footer>")
    return {"/": _page(name, body, _THEME_HEAD)}


def start_all(folder: Path) -> tuple[dict[str, list[ShopServer]], Path, Callable[[], None]]:
    """Every shop started; returns them by group, the CA file to trust, and a closer."""
    c_hosts = [f"127.0.7.{i + 1}" for i in range(3)]
    ca, context = make_certificate(folder, c_hosts)
    groups = {
        "gtm_phone": [ShopServer(f"127.0.5.{i + 1}", network_a(i)) for i in range(3)],
        "template": [ShopServer(f"127.0.6.{i + 1}", network_b(i)) for i in range(3)],
        "tls": [ShopServer(host, network_c(i), tls=context) for i, host in enumerate(c_hosts)],
        "themed": [ShopServer(f"127.0.8.{i + 1}", themed(i)) for i in range(4)],
    }

    def close() -> None:
        for servers in groups.values():
            for server in servers:
                server.close()

    return groups, ca, close
