"""Audit input: a text file (one URL or bare domain per line), a CSV with a `url` column, or
stdin; read lazily, normalised, de-duplicated, with bad lines reported by line number.

Reading is streamed: only the set of URLs already seen is kept (for de-duplication), never
the whole file, so a list of a million domains costs its URLs, not its lines.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pharmcheck.errors import UsageError
from pharmcheck.urls import MAX_QUOTED, InvalidURL, clip, site_url

_CSV_SNIFF_BYTES = 64 * 1024
# Stdin cannot be read twice: this many items are held while looking for a first valid URL.
_PEEK_LIMIT = 1000
# Share of replacement characters and control bytes above which an input is binary, not text.
_BINARY_SHARE = 0.05


@dataclass(frozen=True)
class Target:
    """One site to audit: its normalised URL, where it came from, its place in the list."""

    url: str
    line: int
    position: int  # 0-based index among the unique targets, in input order


@dataclass(frozen=True)
class BadLine:
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason[:2 * MAX_QUOTED]}: {clip(self.text)}"


# The one validator, shared with `check` (kept under this name for callers of inputs).
normalize_target = site_url


class InputSource:
    """Where the list comes from; `key` identifies it across runs (for `--resume`)."""

    def __init__(self, spec: str, stdin: TextIO | None = None) -> None:
        self.spec = spec
        self._stdin = stdin
        if spec == "-":
            self.path: Path | None = None
            self.key = "-"
        else:
            self.path = Path(spec)
            if self.path.is_dir():
                raise UsageError(f"input is a folder, not a file: {spec}")
            if not self.path.is_file():
                raise UsageError(f"input file not found: {spec}")
            self.key = str(self.path.resolve())
        self._stdin_items: Iterator[Target | BadLine] | None = None
        self._peeked: list[Target | BadLine] = []

    def check_usable(self) -> None:
        """UsageError (exit 2) unless the input holds a valid URL: a binary, empty or
        all-invalid list is refused before any run is created."""
        if self.path is None:
            self._stdin_items = read_targets(self.open())
            self._peeked = list(itertools.islice(self._stdin_items, _PEEK_LIMIT))
            items: Iterator[Target | BadLine] = iter(self._peeked)
            undecided = len(self._peeked) == _PEEK_LIMIT
        else:
            items, undecided = self.read(), False
        first_bad: BadLine | None = None
        bad_count = 0
        with contextlib.closing(items) if isinstance(items, Generator) else contextlib.nullcontext():
            for item in items:
                if isinstance(item, Target):
                    return
                first_bad = first_bad or item
                bad_count += 1
        if undecided:
            return  # a long stdin of bad lines so far: the runner reports them as it reads
        name = "stdin" if self.path is None else self.spec
        if first_bad is None:
            raise UsageError(f"{name} holds no URL (one URL or domain per line, or a CSV with a 'url' column)")
        raise UsageError(f"no valid URL in {name}: {bad_count} line(s), none valid (first: {first_bad})")

    def open(self) -> TextIO:
        if self.path is None:
            return self._stdin or sys.stdin
        try:
            # utf-8-sig: spreadsheets save CSVs with a byte-order mark.
            return open(self.path, encoding="utf-8-sig", errors="replace", newline="")
        except OSError as exc:
            raise UsageError(f"cannot read {self.spec}: {exc.strerror or exc}") from exc

    def read(self) -> Iterator[Target | BadLine]:
        """Targets and bad lines, in input order, each unique URL once."""
        if self.path is None:
            # stdin: what check_usable() peeked at first, then the rest of the stream.
            if self._stdin_items is None:
                self._stdin_items = read_targets(self.open())
            yield from self._peeked
            self._peeked = []
            yield from self._stdin_items
            return
        fh = self.open()
        try:
            yield from read_targets(fh, csv_hint=self.path is not None and self.path.suffix.lower() == ".csv")
        finally:
            if self.path is not None:
                fh.close()

    def count(self) -> int | None:
        """Unique valid targets (a cheap second pass over a file); None for stdin."""
        if self.path is None:
            return None
        return sum(1 for item in self.read() if isinstance(item, Target))


def read_targets(fh: TextIO, csv_hint: bool = False) -> Iterator[Target | BadLine]:
    head = fh.read(_CSV_SNIFF_BYTES).lstrip("\ufeff")
    if _looks_binary(head):
        raise UsageError("input is a binary file, not a list of URLs (one URL or domain per line, or a CSV)")
    stream = _Chain(head, fh)
    first = next((ln for ln in head.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    if csv_hint or _looks_like_csv_header(first):
        yield from _dedupe(_csv_lines(stream))
    else:
        yield from _dedupe(_text_lines(stream))


def _looks_binary(head: str) -> bool:
    """NUL bytes, or many bytes that are not text (decoding errors, control characters)."""
    if "\x00" in head:
        return True
    sample = head[:4096]
    odd = sum(1 for c in sample if c == "\ufffd" or (c < " " and c not in "\t\n\r\f\v"))
    return bool(sample) and odd / len(sample) > _BINARY_SHARE


def _looks_like_csv_header(line: str) -> bool:
    if "," not in line and ";" not in line and "\t" not in line:
        return False
    cells = next(csv.reader([line], dialect=_dialect(line)), [])
    return any(c.strip().lower() == "url" for c in cells)


def _dialect(sample: str) -> type[csv.Dialect]:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


class _Chain:
    """The sniffed head followed by the rest of the stream, read line by line."""

    def __init__(self, head: str, rest: TextIO) -> None:
        self._head = io.StringIO(head)
        self._rest = rest
        self._head_done = False

    def readline(self, size: int | None = -1) -> str:
        if not self._head_done:
            line = self._head.readline()
            if line.endswith("\n") or line.endswith("\r"):
                return line
            self._head_done = True
            return line + self._rest.readline()  # the head may end mid-line
        return self._rest.readline()

    def __iter__(self) -> Iterator[str]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


def _text_lines(stream: _Chain) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(stream, start=1):
        text = raw.strip()
        if text and not text.startswith("#"):
            yield number, text


def _csv_lines(stream: _Chain) -> Iterator[tuple[int, str] | BadLine]:
    header_line = ""
    number = 0
    for raw in stream:
        number += 1
        if raw.strip() and not raw.lstrip().startswith("#"):
            header_line = raw
            break
    if not header_line:
        return
    dialect = _dialect(header_line)
    header = [c.strip().lower() for c in next(csv.reader([header_line], dialect=dialect))]
    if "url" not in header:
        raise UsageError(f"CSV input has no 'url' column (header on line {number}: {header_line.strip()[:80]!r})")
    column = header.index("url")
    base = number
    reader = csv.reader(stream, dialect=dialect)
    ended = 0
    for row in reader:
        # Report the physical line where the record starts (a quoted cell may span lines).
        line, ended = base + ended + 1, reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if row[0].lstrip().startswith("#"):
            continue
        if column >= len(row):
            yield BadLine(line, ",".join(row), "no url cell")
            continue
        text = row[column].strip()
        if not text:
            yield BadLine(line, ",".join(row), "empty url cell")
            continue
        yield line, text


def _dedupe(lines: Iterator[tuple[int, str] | BadLine]) -> Iterator[Target | BadLine]:
    seen: set[str] = set()
    for item in lines:
        if isinstance(item, BadLine):
            yield item
            continue
        number, text = item
        try:
            url = normalize_target(text)
        except InvalidURL as exc:
            yield BadLine(number, text[: 2 * MAX_QUOTED], str(exc))
            continue
        if url in seen:
            continue
        seen.add(url)
        yield Target(url=url, line=number, position=len(seen) - 1)
