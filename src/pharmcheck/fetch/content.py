"""Bodies as the fetch stage must treat them: decompressed within a byte cap, and sniffed
so a binary file served as text/html is recorded rather than parsed."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from pharmcheck.models import ErrorCode

# Magic numbers of formats that are never a web page (WHATWG MIME sniffing, plus archives).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "PDF"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"RIFF", "RIFF media (WebP/WAV/AVI)"),
    (b"\x00\x00\x01\x00", "icon"),
    (b"BM", "BMP image"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip data"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"\x00asm", "WebAssembly"),
    (b"OggS", "Ogg media"),
    (b"ID3", "MP3 audio"),
    (b"wOFF", "web font"),
    (b"wOF2", "web font"),
    (b"\x1aE\xdf\xa3", "Matroska/WebM video"),
)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
# Bytes that never occur in text (WHATWG "binary data byte"): C0 controls but TAB, LF, FF, CR, ESC.
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))
SNIFF_BYTES = 1024


def sniff_binary(body: bytes) -> str | None:
    """What binary format `body` is in, or None if it may be text. Looks at the first KB only."""
    head = body[:SNIFF_BYTES]
    if not head or head.startswith(_BOMS):
        return None
    stripped = head.lstrip(b" \t\r\n\x0c")
    if stripped[:1] == b"<":
        return None  # markup first; stray NUL bytes later on do not make it binary
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    # A page may hold a few stray control bytes; binary data is full of them.
    control = len(head) - len(head.translate(None, _BINARY_BYTES))
    return "binary data" if control > len(head) // 20 else None


class TooDeep(Exception):
    """Content-Encoding stacked more than we unpack."""


class BodyDecoder:
    """Undoes Content-Encoding (gzip, deflate, stacked) incrementally, never producing more
    than asked: a 1 GB gzip bomb costs what the cap allows, not what it expands to."""

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 3:
            raise TooDeep(f"{len(codings)} stacked content encodings")
        unknown = [c for c in codings if c not in ("gzip", "x-gzip", "deflate")]
        self.unsupported = unknown[0] if unknown else None
        # Decoded in reverse order of application; an unknown coding leaves the bytes as they are.
        self._stages = [] if self.unsupported else [_Inflater(c) for c in reversed(codings)]

    def feed(self, data: bytes, room: int) -> bytes:
        """Decoded bytes for `data`, at most `room` of them (the rest of the input is kept)."""
        for i, stage in enumerate(self._stages):
            last = i == len(self._stages) - 1
            data = stage.feed(data, room if last else max(room, 64 * 1024))
        return data[:room]


class _Inflater:
    def __init__(self, coding: str) -> None:
        self.gzip = coding in ("gzip", "x-gzip")
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | 32 if self.gzip else zlib.MAX_WBITS)
        self._raw_fallback = not self.gzip  # "deflate" is sometimes sent without its zlib header
        self._pending = b""

    def feed(self, data: bytes, room: int) -> bytes:
        data = self._pending + data
        self._pending = b""
        out = bytearray()
        while data and len(out) < room:
            try:
                chunk = self._obj.decompress(data, room - len(out))
            except zlib.error:
                if self._raw_fallback:
                    self._raw_fallback = False
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise
            self._raw_fallback = False
            out += chunk
            if self._obj.unconsumed_tail:
                self._pending = self._obj.unconsumed_tail
                break
            if self._obj.eof:
                data = self._obj.unused_data
                if data and self.gzip and data[:2] == b"\x1f\x8b":  # next gzip member
                    self._obj = zlib.decompressobj(zlib.MAX_WBITS | 32)
                    continue
                break
            data = b""
        return bytes(out)


BodyError = tuple[ErrorCode, str]
CHUNK = 16 * 1024  # compressed bytes per read: small, so one read cannot expand into much


def read_capped(
    chunks: Iterable[bytes], content_encoding: str, cap: int, classify: Callable[[Exception], BodyError],
    stop_on_binary: bool = True,
) -> tuple[bytes, bool, BodyError | None]:
    """(body, truncated, error) of a body arriving as `chunks` of wire bytes: decoded as its
    Content-Encoding says and cut at `cap` decoded bytes, whatever it would expand to. The
    same bound for live fetches and for replayed archive records. `stop_on_binary`: stop
    reading once the first KB shows a binary file (a replay keeps what the live fetch kept)."""
    body = bytearray()
    try:
        decoder = BodyDecoder(content_encoding)
    except TooDeep as exc:
        return b"", False, (ErrorCode.connection, f"undecodable body: {exc}")
    if decoder.unsupported:  # we only ask for gzip and deflate
        return b"", False, (ErrorCode.connection, f"undecodable body: Content-Encoding {decoder.unsupported!r}")
    sniffed = not stop_on_binary
    try:
        for raw in chunks:
            body += decoder.feed(raw, cap + 1 - len(body))
            if len(body) > cap:
                del body[cap:]
                return bytes(body), True, (
                    ErrorCode.too_large,
                    f"body larger than {cap:,} bytes (after decompression): analysed the first {cap:,}",
                )
            if not sniffed and len(body) >= SNIFF_BYTES:
                sniffed = True
                if sniff_binary(bytes(body[:SNIFF_BYTES])):
                    return bytes(body), True, None  # binary: this much is enough to say so
        return bytes(body), False, None
    except zlib.error as exc:
        return bytes(body), True, (ErrorCode.connection, f"corrupt compressed body: {exc}")
    except Exception as exc:
        return bytes(body), True, classify(exc)


def stream_chunks(stream: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    """A file's bytes, `size` at a time."""
    while True:
        data = stream.read(size)
        if not data:
            return
        yield data


def dechunked(stream: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    """HTTP/1.1 chunked transfer coding undone, `size` bytes at a time however long a chunk
    claims to be. A body that is not really chunked is passed through as it is."""
    while True:
        line = stream.readline(64)
        try:
            length = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            yield line  # not chunked after all: the rest as it is
            yield from stream_chunks(stream, size)
            return
        if length <= 0:
            return
        while length > 0:
            data = stream.read(min(size, length))
            if not data:
                return
            length -= len(data)
            yield data
        stream.read(2)  # the CRLF after each chunk
