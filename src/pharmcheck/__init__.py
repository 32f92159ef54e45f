"""pharmcheck: tells whether an online pharmacy is legitimate, and shows the evidence.

    >>> import pharmcheck
    >>> report = pharmcheck.check("https://pharmacy.example/")       # doctest: +SKIP
    >>> report.verdict, report.score, [f.rule_id for f in report.findings]  # doctest: +SKIP

`check`, `audit` and the report models are imported on first use, so `import pharmcheck`
stays fast (the command line imports only what each command needs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
TOOL_NAME = "pharmcheck"
TOOL_URL = "https://github.com/pharmcheck/pharmcheck"

# Public name -> the module that defines it (imported lazily, PEP 562).
_PUBLIC = {
    "check": "pharmcheck.api",
    "audit": "pharmcheck.api",
    "Report": "pharmcheck.models",
    "Verdict": "pharmcheck.models",
    "Status": "pharmcheck.models",
    "Finding": "pharmcheck.models",
    "FetchOptions": "pharmcheck.models",
    "PharmcheckError": "pharmcheck.errors",
    "UsageError": "pharmcheck.errors",
    "RuleError": "pharmcheck.errors",
}
__all__ = [
    "TOOL_NAME", "TOOL_URL", "FetchOptions", "Finding", "PharmcheckError", "Report", "RuleError", "Status",
    "UsageError", "Verdict", "__version__", "audit", "check",
]

if TYPE_CHECKING:
    from pharmcheck.api import audit, check
    from pharmcheck.errors import PharmcheckError, RuleError, UsageError
    from pharmcheck.models import FetchOptions, Finding, Report, Status, Verdict


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'pharmcheck' has no attribute {name!r}")
    import importlib

    if name in ("check", "audit"):
        # The submodules of these names are the API functions too (calling them runs
        # pharmcheck.api.check / .audit), so the attribute is the same object either way.
        return importlib.import_module(f"pharmcheck.{name}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
