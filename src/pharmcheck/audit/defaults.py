"""Defaults of `pharmcheck audit`, apart from the audit machinery: the command line shows
them in --help without importing the runner, the store and the checker."""

from __future__ import annotations

DEFAULT_DB = "pharmcheck.db"
DEFAULT_WORKERS = 32
DEFAULT_FORMAT = "jsonl"


# kind -> "module:factory". A new runner is one module with a factory taking RunnerSettings,
# plus one line here; the module is imported only when its kind is asked for (Dask is heavy).
# The table is here, not in runner.py, so that `--runner`'s choices cost no import of the
# runner (with the checker, multiprocessing and threads) at every start of the program.
RUNNERS: dict[str, str] = {
    "local": "pharmcheck.audit.runner:local_runner",
    "dask": "pharmcheck.audit.dask_runner:dask_runner",
    "serial": "pharmcheck.audit.serial_runner:serial_runner",
    "pool": "pharmcheck.audit.runner:pool_runner",
}


def runner_kinds() -> list[str]:
    """The kinds `--runner` accepts."""
    return list(RUNNERS)
