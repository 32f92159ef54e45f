"""Batch audits: a list of sites -> `check_site` for each (on threads or worker processes)
-> an SQLite database and JSONL/CSV/JSON/HTML output. See `cli` for the commands."""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pharmcheck.models import Report


class _CallablePackage(types.ModuleType):
    """`pharmcheck.audit` is this package, and also the Python API's
    `pharmcheck.audit(urls, **options)`: calling it runs `pharmcheck.api.audit`."""

    def __call__(self, urls: Any, **options: Any) -> list[Report]:
        from pharmcheck.api import audit

        return audit(urls, **options)


sys.modules[__name__].__class__ = _CallablePackage
