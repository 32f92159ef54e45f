"""Hostile captures: small .warc.gz files holding one huge response record.

Written by hand (warcio would buffer the payload to compute its length), streamed so that
building an 80 MB-record capture costs a few MB and well under a second."""

from __future__ import annotations

import gzip
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

FILLER = b"<p>We are a licensed pharmacy. A prescription is required for prescription medicines.</p>\n"


def _html_body(size: int) -> Iterator[bytes]:
    head = b"<html><head><title>Huge record</title></head><body>"
    yield head
    left = size - len(head)
    block = FILLER * (65536 // len(FILLER))
    while left > 0:
        piece = block[:left]
        left -= len(piece)
        yield piece


def _gzip_zeros(expanded: int) -> Iterator[bytes]:
    """A gzip stream of `expanded` zero bytes, produced piecewise."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    for _ in range(expanded >> 20):
        out = comp.compress(zeros)
        if out:
            yield out
    yield comp.flush()


def write_huge_record_warc(path: Path, url: str, body_size: int, gzip_bomb: bool = False) -> Path:
    """A capture whose only response for `url` has a `body_size`-byte HTML body, or (with
    `gzip_bomb`) a Content-Encoding: gzip body that expands to `body_size` zero bytes."""
    if gzip_bomb:
        payload = b"".join(_gzip_zeros(body_size))  # ~1/1000 of body_size
        http_head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\r\n"
        pieces: Iterator[bytes] = iter([payload])
        length = len(http_head) + len(payload)
    else:
        http_head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        pieces = _html_body(body_size)
        length = len(http_head) + body_size
    warc_head = (
        "WARC/1.1\r\nWARC-Type: response\r\n"
        f"WARC-Target-URI: {url}\r\nWARC-Date: 2026-01-01T00:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(warc_head + http_head)
        for piece in pieces:
            out.write(piece)
        out.write(b"\r\n\r\n")
    return path
