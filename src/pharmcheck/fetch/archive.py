"""WARC capture and replay (warcio), so evidence can be kept and re-scored offline.

`WarcRecorder` wraps any transport and writes each exchange as a request/response pair;
`ArchiveTransport` answers exchanges from one `.warc(.gz)` file or a folder of them.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import threading
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from pharmcheck import TOOL_NAME, TOOL_URL, __version__
from pharmcheck.errors import ArchiveError
from pharmcheck.fetch.base import Deadline, Transport
from pharmcheck.fetch.content import dechunked, read_capped, stream_chunks
from pharmcheck.fetch.warc import (
    ArchiveIterator,
    ArchiveLoadFailed,
    ArcWarcRecord,
    StatusAndHeaders,
    WARCWriter,
)
from pharmcheck.models import ErrorCode, FetchError, Response, SiteFact
from pharmcheck.urls import InvalidURL, authority, normalize_url, request_target

# Headers that describe the wire encoding, which no longer applies to the decoded body we keep.
_WIRE_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}
# Target URI of a page's screenshot record; WARC-Refers-To-Target-URI names the page.
SCREENSHOT_URN = "urn:pharmcheck:screenshot:"
# Target URI of a site fact's `metadata` record ("urn:pharmcheck:fact:rdap"); its
# WARC-Refers-To-Target-URI is the site's final URL, its payload the fact as JSON.
FACT_URN = "urn:pharmcheck:fact:"
FACT_CONTENT_TYPE = "application/vnd.pharmcheck.fact+json"
MAX_FACT_RECORD = 1_000_000  # a fact record (the certificate's DER included) is small
_log = logging.getLogger("pharmcheck")
_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
            307: "Temporary Redirect", 308: "Permanent Redirect", 403: "Forbidden", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


class WarcRecorder:
    """A transport that records every exchange of another one into a gzipped WARC file."""

    def __init__(self, inner: Transport, path: str | os.PathLike[str], user_agent: str = "") -> None:
        self.inner = inner
        self.path = Path(path)
        self.user_agent = user_agent
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ArchiveError(f"cannot write WARC {self.path}: {exc.strerror or exc}") from exc
        self._writer = WARCWriter(self._file, gzip=True)
        info = {
            "software": f"{TOOL_NAME}/{__version__} ({TOOL_URL})",
            "format": "WARC File Format 1.1",
            "http-header-user-agent": user_agent,
        }
        self._writer.write_record(self._writer.create_warcinfo_record(self.path.name, info))

    def exchange(self, url: str, deadline: Deadline) -> Response:
        resp = self.inner.exchange(url, deadline)
        if resp.status:
            with self._lock:
                self._write(resp)
        return resp

    def _write(self, resp: Response) -> None:
        headers = [(k, v) for k, v in resp.headers.items() if k.lower() not in _WIRE_HEADERS]
        headers.append(("Content-Length", str(len(resp.body))))
        if resp.truncated:
            headers.append(("X-Pharmcheck-Truncated", "1"))
        if resp.error is not None:  # e.g. too_large: a replay reports what the live check did
            headers.append(("X-Pharmcheck-Error", f"{resp.error.code.value} {resp.error.message}"[:500]))
        status = f"{resp.status} {_REASONS.get(resp.status, 'Status')}"
        http_headers = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
        record = self._writer.create_warc_record(
            resp.url, "response", payload=io.BytesIO(resp.body), http_headers=http_headers
        )
        req_headers = StatusAndHeaders(
            f"GET {request_target(resp.url)} HTTP/1.1",
            [("Host", authority(resp.url)), ("User-Agent", self.user_agent)],
            is_http_request=True,
        )
        request = self._writer.create_warc_record(
            resp.url, "request", payload=io.BytesIO(b""), http_headers=req_headers
        )
        self._writer.write_request_response_pair(request, record)

    def write_rendering(self, url: str, dom: bytes | None, screenshot: bytes | None) -> None:
        """Keep what the browser showed for the page at `url` (see fetch/render.py): the DOM it
        built, as a `conversion` record of the page, and its screenshot, as a `resource`."""
        with self._lock:
            if dom is not None:
                self._write_derived(url, "conversion", url, dom, "text/html; charset=utf-8")
            if screenshot is not None:
                self._write_derived(url, "resource", SCREENSHOT_URN + url, screenshot, "image/png")

    def _write_derived(self, page_url: str, rec_type: str, target: str, payload: bytes, content_type: str) -> None:
        record = self._writer.create_warc_record(
            target, rec_type, payload=io.BytesIO(payload), warc_content_type=content_type,
            warc_headers_dict={"WARC-Refers-To-Target-URI": page_url},
        )
        self._writer.write_record(record)

    def write_facts(self, site_url: str, facts: list[SiteFact]) -> None:
        """Keep each site fact as a `metadata` record of the site (the fact's raw bytes, a
        certificate's DER, travel base64-encoded in the JSON), so a replay reads them back."""
        with self._lock:
            for fact in facts:
                payload = fact.model_dump(mode="json")
                if fact.raw:
                    payload["raw_base64"] = base64.b64encode(fact.raw).decode("ascii")
                body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
                self._write_derived(site_url, "metadata", FACT_URN + fact.provider, body, FACT_CONTENT_TYPE)

    def close(self) -> None:
        self.inner.close()
        with self._lock:
            if not self._file.closed:
                self._file.close()


class ArchiveIndex:
    """URL -> (file, offset) of its response record, for every WARC under a path.

    Only offsets are held in memory, so a folder of thousands of captures stays cheap."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        root = Path(path)
        if not root.exists():
            raise ArchiveError(f"replay archive not found: {root}")
        files = sorted(p for p in root.rglob("*") if _is_warc(p)) if root.is_dir() else [root]
        if not files:
            raise ArchiveError(f"no .warc or .warc.gz files under {root}")
        self.entries: dict[str, tuple[Path, int]] = {}
        # (record type, page URL) -> where it is: the rendered DOM ("conversion") and the
        # screenshot ("resource") of pages captured with --render / --screenshots.
        self.derived: dict[tuple[str, str], tuple[Path, int]] = {}
        # Site URL -> where its fact records are (one per provider, first capture wins).
        self.fact_records: dict[str, dict[str, tuple[Path, int]]] = {}
        for file in files:
            self._index(file)

    def _index(self, file: Path) -> None:
        try:
            with open(file, "rb") as fh:
                it = ArchiveIterator(fh)
                for record in it:
                    if record.rec_type in ("conversion", "resource"):
                        self._index_derived(record, file, it.get_record_offset())
                        continue
                    if record.rec_type == "metadata":
                        self._index_fact(record, file, it.get_record_offset())
                        continue
                    if record.rec_type != "response":
                        continue
                    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                    try:
                        key = normalize_url(uri)
                    except InvalidURL:
                        continue
                    # The first capture of a URL wins: that is what the crawl saw first.
                    self.entries.setdefault(key, (file, it.get_record_offset()))
        except (ArchiveLoadFailed, OSError, ValueError) as exc:
            raise ArchiveError(f"cannot read WARC {file}: {exc}") from exc

    def _index_derived(self, record: ArcWarcRecord, file: Path, offset: int) -> None:
        page = record.rec_headers.get_header("WARC-Refers-To-Target-URI") or ""
        target = record.rec_headers.get_header("WARC-Target-URI") or ""
        if record.rec_type == "resource" and not target.startswith(SCREENSHOT_URN):
            return
        try:
            key = normalize_url(page)
        except InvalidURL:
            return
        self.derived.setdefault((record.rec_type, key), (file, offset))

    def _index_fact(self, record: ArcWarcRecord, file: Path, offset: int) -> None:
        target = record.rec_headers.get_header("WARC-Target-URI") or ""
        if not target.startswith(FACT_URN):
            return
        try:
            key = normalize_url(record.rec_headers.get_header("WARC-Refers-To-Target-URI") or "")
        except InvalidURL:
            return
        self.fact_records.setdefault(key, {}).setdefault(target[len(FACT_URN):], (file, offset))

    def facts_for(self, site_url: str) -> list[SiteFact]:
        """The site facts recorded for the site at `site_url` (none for a capture without them).
        A record that cannot be read as a fact is skipped with a warning: it is not a fact."""
        try:
            key = normalize_url(site_url)
        except InvalidURL:
            return []
        facts: list[SiteFact] = []
        for provider, (file, offset) in self.fact_records.get(key, {}).items():
            try:
                with open(file, "rb") as fh:
                    fh.seek(offset)
                    record = next(iter(ArchiveIterator(fh)))
                    data = json.loads(record.content_stream().read(MAX_FACT_RECORD + 1))
                raw = base64.b64decode(data.pop("raw_base64", "") or "")
                facts.append(SiteFact.model_validate(data).model_copy(update={"raw": raw}))
            except (ArchiveLoadFailed, OSError, ValueError, StopIteration, ValidationError) as exc:
                _log.warning("%s: unreadable %s fact record for %s: %s", file, provider, site_url, str(exc)[:200])
        return facts

    def load_derived(self, url: str, rec_type: str, max_bytes: int) -> bytes | None:
        """The rendered DOM (`conversion`, cut at `max_bytes`) or screenshot (`resource`; None
        when larger than `max_bytes`: a cut PNG is no image) kept for a page, if any."""
        entry = self.derived.get((rec_type, url))
        if entry is None:
            return None
        file, offset = entry
        try:
            with open(file, "rb") as fh:
                fh.seek(offset)
                record = next(iter(ArchiveIterator(fh)))
                data = bytes(record.content_stream().read(max_bytes + 1))
        except (ArchiveLoadFailed, OSError, ValueError, StopIteration) as exc:
            raise ArchiveError(f"cannot read WARC {file}: {exc}") from exc
        if len(data) > max_bytes:
            return None if rec_type == "resource" else data[:max_bytes]
        return data

    def load(self, url: str, max_bytes: int) -> Response | None:
        """The recorded response for `url`, its body streamed from the file, decoded and cut
        at `max_bytes` exactly as a live fetch would be: a 1 MB capture holding a 400 MB
        record costs `max_bytes`, not 400 MB."""
        entry = self.entries.get(url)
        if entry is None:
            return None
        file, offset = entry
        status, headers = 0, dict[str, str]()
        try:
            with open(file, "rb") as fh:
                fh.seek(offset)
                record = next(iter(ArchiveIterator(fh)))
                http = record.http_headers
                status = int(http.get_statuscode() or 0) if http else 200
                headers.update((k.lower(), v) for k, v in (http.headers if http else []))
                stream = record.raw_stream
                chunked = "chunked" in headers.get("transfer-encoding", "").lower()
                chunks = dechunked(stream) if chunked else stream_chunks(stream)
                body, truncated, error = read_capped(chunks, headers.get("content-encoding", ""), max_bytes,
                                                     _unreadable, stop_on_binary=False)
        except (ArchiveLoadFailed, OSError, ValueError, StopIteration) as exc:
            body, truncated, error = b"", True, _unreadable(exc)
        # The body we hand on is decoded: its wire encoding no longer applies.
        headers = {k: v for k, v in headers.items() if k not in _WIRE_HEADERS}
        recorded = _recorded_error(url, headers.get("x-pharmcheck-error", ""))
        return Response(
            url=url,
            final_url=url,
            status=status,
            headers=headers,
            content_type=headers.get("content-type", ""),
            body=body,
            truncated=truncated or headers.get("x-pharmcheck-truncated") == "1",
            error=FetchError(code=error[0], url=url, message=error[1]) if error else recorded,
        )


def _unreadable(exc: BaseException) -> tuple[ErrorCode, str]:
    return ErrorCode.connection, f"unreadable archive record: {str(exc)[:200]}"


def _recorded_error(url: str, value: str) -> FetchError | None:
    code, _, message = value.partition(" ")
    try:
        return FetchError(code=ErrorCode(code), url=url, message=message) if code else None
    except ValueError:
        return None


def _is_warc(path: Path) -> bool:
    return path.is_file() and (path.name.endswith(".warc") or path.name.endswith(".warc.gz"))


class ArchiveTransport:
    """Answers every exchange from the archive; a URL not in it is a 404, as the spec of
    `--replay` says, so a replayed check never touches the network."""

    def __init__(self, index: ArchiveIndex, max_bytes: int) -> None:
        self.index = index
        self.max_bytes = max_bytes

    def exchange(self, url: str, deadline: Deadline) -> Response:
        found = self.index.load(url, self.max_bytes)
        if found is not None:
            return found
        return Response(
            url=url,
            final_url=url,
            status=404,
            error=FetchError(code=ErrorCode.not_in_archive, url=url, message="not in the replay archive"),
        )

    def close(self) -> None:
        pass

