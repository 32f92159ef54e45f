"""Where reports go: stdout, or a file written atomically (renamed into place when complete) or
in place (streamed results survive a crash)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from pharmcheck.errors import UsageError


def write_output(path: str, content: str) -> None:
    """Write a report to a file (atomically) or stdout."""
    if path == "-":
        sys.stdout.write(content)
        sys.stdout.flush()
        return
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


@contextmanager
def open_output(path: str, atomic: bool) -> Iterator[TextIO]:
    """stdout for '-'; otherwise the file, written in place (streamed results survive a
    crash) or, when `atomic`, renamed into place only once complete."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp") if atomic else target
    try:
        fh = open(tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        yield fh
    except BaseException:
        fh.close()
        if atomic:
            tmp.unlink(missing_ok=True)
        raise
    fh.close()
    if atomic:
        os.replace(tmp, target)
