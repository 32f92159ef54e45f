"""Defaults of `pharmcheck audit`, apart from the audit machinery: the command line shows
them in --help without importing the runner, the store and the checker."""

from __future__ import annotations

DEFAULT_DB = "pharmcheck.db"
DEFAULT_WORKERS = 32
DEFAULT_FORMAT = "jsonl"
