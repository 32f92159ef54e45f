"""Write a WARC from pages held as files (a site mirror, a test fixture, a labelled corpus).

The records are what `WarcRecorder` writes for a live crawl (warcinfo, then request/response
pairs), so a capture built from files replays exactly like one recorded from the network.
"""

from __future__ import annotations

import io
import mimetypes
from collections.abc import Iterable
from pathlib import Path

from pharmcheck import TOOL_NAME, TOOL_URL, __version__
from pharmcheck.fetch.warc import StatusAndHeaders, WARCWriter
from pharmcheck.urls import authority, request_target


def write_warc(out: Path, pages: Iterable[tuple[str, bytes, str]], status: str = "200 OK") -> Path:
    """Write (url, body, content_type) triples as a gzipped WARC at `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        info = {"software": f"{TOOL_NAME}/{__version__} ({TOOL_URL})", "format": "WARC File Format 1.1"}
        writer.write_record(writer.create_warcinfo_record(out.name, info))
        for url, body, content_type in pages:
            headers = StatusAndHeaders(
                status, [("Content-Type", content_type), ("Content-Length", str(len(body)))], protocol="HTTP/1.1"
            )
            response = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers)
            req = StatusAndHeaders(f"GET {request_target(url)} HTTP/1.1", [("Host", authority(url))],
                                   is_http_request=True)
            request = writer.create_warc_record(url, "request", payload=io.BytesIO(b""), http_headers=req)
            writer.write_request_response_pair(request, response)
    return out


def site_dir_pages(root: Path, base_url: str) -> list[tuple[str, bytes, str]]:
    """Pages of a site mirror: `index.html` is "/", `a/b.html` is "/a/b" (and "/a/b/"),
    any other file keeps its name ("/robots.txt")."""
    base = base_url.rstrip("/")
    pages: list[tuple[str, bytes, str]] = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        body = file.read_bytes()
        if rel.endswith(".html"):
            ctype = "text/html; charset=utf-8"
            if rel == "index.html":
                paths = ["/"]
            elif rel.endswith("/index.html"):
                paths = ["/" + rel[: -len("index.html")]]
            else:
                stem = rel[: -len(".html")]
                paths = ["/" + stem, "/" + stem + "/"]
        else:
            ctype = mimetypes.guess_type(rel)[0] or "application/octet-stream"
            if ctype.startswith("text/"):
                ctype += "; charset=utf-8"
            paths = ["/" + rel]
        pages.extend((base + path, body, ctype) for path in paths)
    return pages
