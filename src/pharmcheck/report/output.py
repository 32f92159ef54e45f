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


def is_special_file(path: Path) -> bool:
    """An existing path that is not a regular file (a device such as /dev/null, a FIFO)."""
    try:
        return path.exists() and not path.is_file()
    except OSError:
        return False


def write_output(path: str, content: str) -> None:
    """Write a report to a file (atomically) or stdout."""
    if path == "-":
        sys.stdout.write(content)
        sys.stdout.flush()
        return
    target = Path(path)
    if is_special_file(target):  # /dev/null, a pipe: written to, never renamed over
        try:
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(content)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return
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
    # Only a regular file is replaced by rename: renaming over /dev/null or a pipe (as root)
    # would put a plain file where the device was.
    atomic = atomic and not is_special_file(target)
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
