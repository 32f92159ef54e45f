"""Exceptions that carry an exit code; `cli.main` turns them into one-line messages."""

from __future__ import annotations

from pharmcheck.models import ExitCode


class PharmcheckError(Exception):
    """An error the user can fix; shown as one line, never as a traceback."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(PharmcheckError):
    """Bad arguments or input files."""


class RuleError(PharmcheckError):
    """A rule file is invalid: message is `file: rule id: what is wrong`."""


class ArchiveError(PharmcheckError):
    """A WARC file cannot be read or written."""
