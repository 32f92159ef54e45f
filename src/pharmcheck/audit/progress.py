"""Progress of an audit on stderr: a live bar on a terminal (rich's, which redraws in place,
sizes itself to the terminal and erases itself), a short log line every few seconds
otherwise (CI logs, `2> audit.log`), nothing with --no-progress."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, TextIO

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
                 already_counts: Counter[str] | None = None, log_every: float = 5.0,
                 force_terminal: bool | None = None) -> None:
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
        self._bar: Any = None
        self._task: Any = None
        self.force_terminal = force_terminal  # None: rich asks the stream (tests force it on a StringIO)

    def site_done(self, verdict: str) -> None:
        self.done += 1
        self.counts[verdict] += 1
        now = time.monotonic()
        if self.mode == "tty" and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw()
        elif self.mode == "log" and now - self._last_log >= self.log_every:
            self._last_log = now
            self.stream.write(f"{TOOL_NAME}: audit: {self.status_line()}\n")
            self.stream.flush()

    def _draw(self) -> None:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as Bar

            # markup off: nothing a site wrote ever reaches the line, but stay literal anyway
            console = Console(file=self.stream, highlight=False, markup=False, emoji=False,
                              force_terminal=self.force_terminal)
            self._bar = Bar(TextColumn("audit"), BarColumn(bar_width=24), MofNCompleteColumn(),
                            TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}"),
                            TextColumn("{task.fields[verdicts]}"),
                            console=console, transient=True, auto_refresh=False)
            self._task = self._bar.add_task("audit", total=self.total, rate="", eta="", verdicts="")
            self._bar.start()
        self._bar.update(self._task, completed=self.already_done + self.done, total=self.total,
                         rate=f"{self.rate():.1f}/s", eta=self.eta(), verdicts=verdict_line(self.counts, short=True))
        self._bar.refresh()
        self._drawn = True

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> str:
        rate = self.rate()
        if self.total is None or rate <= 0:
            return ""
        return "ETA " + format_duration(max(0, self.total - self.already_done - self.done) / rate)

    def status_line(self) -> str:
        done = self.already_done + self.done
        rate = self.rate()
        parts = [f"{done}/{self.total} sites" if self.total is not None else f"{done} sites", f"{rate:.1f}/s"]
        if self.eta():
            parts.append(self.eta())
        counts = verdict_line(self.counts, short=True)
        if counts:
            parts.append(counts)
        return " · ".join(parts)

    def clear(self) -> None:
        """Remove the live bar before other messages are printed (it comes back with the next site)."""
        if self._bar is not None:
            self._bar.stop()  # transient: rich erases the bar it drew
            self._bar = None
        self._drawn = False
