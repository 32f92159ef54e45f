"""The terminal: colour for the text report, a live progress line for `check`, log levels.

Colour and progress are for people at a terminal. Piped or redirected output gets neither
(a report in a file or a CI log stays plain text); `NO_COLOR` (https://no-color.org) turns
colour off, `--color always|never` overrides, `TERM=dumb` counts as no terminal. Drawing is
rich's (styles rendered to ANSI, a spinner that clears itself); site text is only ever passed
as plain text, never as rich markup, so a page cannot style or hide parts of the report.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

COLOR_CHOICES = ("auto", "always", "never")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOGGER = "pharmcheck"

# Roles the text report marks, and how they look. Never colour alone: every role also has
# its word or icon in the text (✓ met, ⚑ RED FLAG, −/+).
STYLES = {
    "rogue": "bold white on red",
    "suspicious": "bold black on yellow",
    "unreachable": "bold white on bright_black",
    "not_pharmacy": "bold blue",
    "legitimate": "bold white on green",
    "red_flag": "bold red",
    "not_met": "yellow",
    "met": "green",
    "unknown": "bright_black",
    "against": "red",
    "for": "green",
    "muted": "bright_black",
    "url": "cyan",
}

Paint = Callable[[str, str], str]


def plain(text: str, role: str) -> str:
    return text


def is_terminal(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    try:
        return stream.isatty() and env.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def use_color(choice: str, stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """Whether to colour what goes to `stream`: --color always/never, else NO_COLOR, else a terminal."""
    env = os.environ if env is None else env
    if choice == "always":
        return True
    if choice == "never":
        return False
    if env.get("NO_COLOR"):
        return False
    return is_terminal(stream, env)


def painter(color: bool) -> Paint:
    """A function that wraps text of a role in its ANSI style (or leaves it be)."""
    if not color:
        return plain
    from rich.color import ColorSystem
    from rich.style import Style

    styles = {role: Style.parse(spec) for role, spec in STYLES.items()}

    def paint(text: str, role: str) -> str:
        style = styles.get(role)
        return style.render(text, color_system=ColorSystem.STANDARD) if style and text else text

    return paint


def setup_logging(level: str, stream: TextIO) -> None:
    """pharmcheck's own log lines (`-v`: info, `-vv` or --log-level debug: every request) on stderr."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(getattr(logging, level.upper()))
    for handler in list(logger.handlers):
        if getattr(handler, "_pharmcheck", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("pharmcheck: %(levelname)s: %(message)s"))
    handler._pharmcheck = True  # type: ignore[attr-defined]  # ours, replaced on the next call
    logger.addHandler(handler)
    logger.propagate = False


def reset_logging() -> None:
    """Take our handler off again (main() in a long-lived process, e.g. tests or a notebook)."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if getattr(handler, "_pharmcheck", False):
            logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


class CheckProgress:
    """What a live `check` is doing, on a terminal: pages fetched of the most, and the page
    being fetched now. Nothing at all when stderr is not a terminal (or with -q)."""

    def __init__(self, stream: TextIO, max_pages: int, enabled: bool) -> None:
        self.max_pages = max_pages
        self.enabled = enabled
        self.fetched = 0
        self.current = ""
        self._lock = threading.Lock()
        self._status: Any = None
        self._started = time.monotonic()
        if enabled:
            from rich.console import Console

            self._console = Console(file=stream, highlight=False, markup=False, emoji=False)

    def line(self) -> str:
        shown = self.current if len(self.current) <= 70 else self.current[:69] + "…"
        elapsed = time.monotonic() - self._started
        return f"pages fetched {self.fetched}/{self.max_pages} · {elapsed:.0f}s · {shown}"

    def __enter__(self) -> CheckProgress:
        if self.enabled:
            self._status = self._console.status(self.line(), spinner="dots")
            self._status.start()
        return self

    def fetching(self, url: str, fetched: int) -> None:
        """Called by the crawl before each page (`fetched` pages done so far)."""
        with self._lock:
            self.current, self.fetched = url, fetched
            if self._status is not None:
                self._status.update(self.line())

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()  # rich clears the line: the report starts on a clean terminal
            self._status = None
