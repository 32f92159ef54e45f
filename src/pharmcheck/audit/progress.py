"""Progress of an audit on stderr: a live line on a terminal, a short log line every few
seconds otherwise (CI logs, `2> audit.log`), nothing with --no-progress."""

from __future__ import annotations

import time
from collections import Counter
from typing import TextIO

from pharmcheck import TOOL_NAME

_SHORT = {"legitimate": "legit", "suspicious": "susp", "rogue": "rogue", "not_pharmacy": "n/a",
          "unreachable": "unreach"}
_ORDER = list(_SHORT)


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def verdict_line(counts: Counter[str], short: bool = False) -> str:
    names = _SHORT if short else {v: v for v in _SHORT}
    return " · ".join(f"{names[v]} {counts[v]}" for v in _ORDER if counts.get(v))


class Progress:
    """Counts what finished and shows it; `mode` is 'tty', 'log' or 'off'."""

    def __init__(self, stream: TextIO, mode: str, total: int | None, already_done: int = 0,
                 already_counts: Counter[str] | None = None, log_every: float = 5.0) -> None:
        self.stream = stream
        self.mode = mode
        self.total = total
        self.already_done = already_done
        self.counts: Counter[str] = Counter(already_counts or {})
        self.done = 0  # in this session
        self.started = time.monotonic()
        self.log_every = log_every
        self._last_draw = 0.0
        self._last_log = self.started
        self._drawn = False

    def site_done(self, verdict: str) -> None:
        self.done += 1
        self.counts[verdict] += 1
        now = time.monotonic()
        if self.mode == "tty" and now - self._last_draw >= 0.1:
            self._last_draw = now
            self.stream.write("\r\x1b[K" + self.status_line())
            self.stream.flush()
            self._drawn = True
        elif self.mode == "log" and now - self._last_log >= self.log_every:
            self._last_log = now
            self.stream.write(f"{TOOL_NAME}: audit: {self.status_line()}\n")
            self.stream.flush()

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def status_line(self) -> str:
        done = self.already_done + self.done
        rate = self.rate()
        parts = [f"{done}/{self.total} sites" if self.total is not None else f"{done} sites", f"{rate:.1f}/s"]
        if self.total is not None and rate > 0:
            parts.append("ETA " + format_duration((self.total - done) / rate))
        counts = verdict_line(self.counts, short=True)
        if counts:
            parts.append(counts)
        return " · ".join(parts)

    def clear(self) -> None:
        """Remove the live line before other messages are printed."""
        if self.mode == "tty" and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
