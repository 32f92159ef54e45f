"""Made-up local sites whose content exists only after JavaScript runs, for the --render tests
and benchmarks/render.py. (Not named conftest: imported by tests and the benchmark alike.)"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The shell every page of the script-built shop is served as: nothing to read without a browser.
SHELL = """<!doctype html>
<html><head><meta charset="utf-8"><title>Loading</title></head>
<body><div id="app"></div>
<noscript>Please enable JavaScript to use this shop.</noscript>
<script src="/static/{script}.js"></script></body></html>"""

# Builds the catalogue and the banner: the evidence a plain fetch never sees.
SHOP_JS = """
(function () {
  var app = document.getElementById('app');
  document.title = 'QuickPills Express - online pharmacy';
  function add(tag, text, parent) {
    var n = document.createElement(tag); n.textContent = text; (parent || app).appendChild(n); return n;
  }
  add('h1', 'QuickPills Express online pharmacy');
  add('p', 'No prescription needed! Order today and we ship worldwide in discreet packaging.');
  var list = add('ul', '');
  [['Xanax 2mg', '$3.20 per pill'], ['Oxycodone 30mg', '$9.90 per pill'], ['Valium 10mg', '$2.10 per pill'],
   ['Tramadol 100mg', '$1.50 per pill']].forEach(function (p) {
    add('li', p[0] + ' - ' + p[1] + ' - add to cart', list);
  });
  add('p', 'Pay with Bitcoin and get 20% off every order.');
  var nav = add('nav', '');
  [['/catalogue', 'Catalogue'], ['/about', 'About us']].forEach(function (l) {
    var a = add('a', l[1], nav); a.href = l[0];
  });
})();
"""

ABOUT_JS = """
document.getElementById('app').textContent =
  'About QuickPills Express: buy Xanax, Valium and Oxycodone online without a prescription. No doctor visit required.';
"""

# Tries everything the guard must refuse; each attempt is reported and none reaches anyone.
HOSTILE_JS = """
(function () {
  var app = document.getElementById('app');
  app.textContent = 'Welcome to our pharmacy. Buy Tramadol online, no prescription needed.';
  fetch('http://127.0.0.1:{other_port}/secret').catch(function () {});
  var img = new Image(); img.src = 'file:///etc/passwd'; document.body.appendChild(img);
  try { new WebSocket('ws://127.0.0.1:{other_port}/ws'); } catch (e) {}
  var a = document.createElement('a'); a.href = '/files/price-list.exe'; a.download = 'price-list.exe';
  document.body.appendChild(a); a.click();
})();
"""

# Never stops loading: an image that drips forever and a poll every 100 ms.
FOREVER_JS = """
document.getElementById('app').textContent = 'Buy Xanax online, no prescription needed, overnight delivery.';
var img = new Image(); img.src = '/slow.png'; document.body.appendChild(img);
setInterval(function () { fetch('/poll?' + Date.now()).catch(function () {}); }, 100);
"""

SCRIPTS = {"shop": SHOP_JS, "about": ABOUT_JS, "hostile": HOSTILE_JS, "forever": FOREVER_JS}
PAGES = {"/": "shop", "/catalogue": "shop", "/about": "about", "/hostile": "hostile", "/forever": "forever"}


class RenderSiteServer:
    """Serves the script-built shop on 127.0.0.1 (pages, their scripts, a download, a
    never-ending image) and counts hits per path."""

    def __init__(self, other_port: int = 9) -> None:
        self.other_port = other_port
        self.hits: Counter[str] = Counter()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                server.hits[path] += 1
                if path in PAGES:
                    self._send(200, "text/html; charset=utf-8", SHELL.format(script=PAGES[path]).encode())
                elif path.startswith("/static/") and path[8:-3] in SCRIPTS:
                    js = SCRIPTS[path[8:-3]].replace("{other_port}", str(server.other_port))
                    self._send(200, "application/javascript", js.encode())
                elif path == "/files/price-list.exe":
                    self._send(200, "application/octet-stream", b"MZ" + b"\0" * 2000,
                               {"Content-Disposition": 'attachment; filename="price-list.exe"'})
                elif path == "/slow.png":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", "10000000")
                    self.end_headers()
                    while not server.stopping.is_set():  # one byte a second, forever
                        try:
                            self.wfile.write(b"\0")
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(1)
                elif path == "/robots.txt":
                    self._send(200, "text/plain", b"User-agent: *\nAllow: /\n")
                else:
                    self._send(404, "text/html", b"<h1>Not found</h1>")

            def _send(self, status: int, ctype: str, body: bytes, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> RenderSiteServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class CountingServer:
    """A server that must never be reached: counts every connection's request."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "6")
                self.end_headers()
                self.wfile.write(b"secret")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> CountingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
