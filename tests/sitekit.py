"""Test support shared by several test modules: paths of the example captures and a real local
HTTP server for a made-up site folder. (Not named conftest: tests/browser has its own.)"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pharmcheck.cli import main
from pharmcheck.fetch.pagedir import site_dir_pages

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
NORTHBRIDGE = EXAMPLES / "sites" / "www.northbridge-pharmacy.example"
CHEAP_MEDS = EXAMPLES / "sites" / "cheap-meds-24.example"



class SiteServer:
    """Serves a site folder (as `site_dir_pages` maps it) on 127.0.0.1 and logs requested paths."""

    def __init__(self, folder: Path, extra: dict[str, tuple[int, dict[str, str], bytes]] | None = None) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        for url, body, ctype in site_dir_pages(folder, "http://placeholder/"):
            self.routes[url.split("placeholder", 1)[1]] = (200, {"Content-Type": ctype}, body)
        self.routes.update(extra or {})
        self.requests: list[str] = []
        self.user_agents: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                server.user_agents.append(self.headers.get("User-Agent", ""))
                status, headers, body = server.routes.get(self.path, (404, {"Content-Type": "text/html"}, b"<h1>Not found</h1>"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SiteServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SRC = str(REPO / "src")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own (an audit, with its environment)."""
    full_env = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    return subprocess.run([sys.executable, "-m", "pharmcheck", *args], capture_output=True, text=True, env=full_env,
                          timeout=300)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in this process (quick: no interpreter start-up)."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


class ReplyHandler(BaseHTTPRequestHandler):
    """A test server's handler: `reply` sends a whole answer; no request log on stderr."""

    def reply(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": content_type, **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1",
            **attributes: object) -> Iterator[ThreadingHTTPServer]:
    """A server on `host` answering with `handler` (`attributes` set on the server), stopped after."""
    server = ThreadingHTTPServer((host, 0), handler)
    for name, value in attributes.items():
        setattr(server, name, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"
