"""The Python API: `pharmcheck.check(url, **options)` and `pharmcheck.audit(urls, **options)`.

The same code path as the command line (`check.check_site`), without argv, files or exit
codes: a Report comes back, and errors the caller can fix raise `pharmcheck.PharmcheckError`
(`UsageError` for a bad URL or option, `RuleError` for a bad rules folder).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pharmcheck.errors import UsageError
from pharmcheck.models import FetchOptions, Report
from pharmcheck.ruleset import RuleSet

# One loaded rule set per folder: loading compiles every rule (~0.3 s), a script may call
# check() many times.
_RULESETS: dict[str, RuleSet] = {}
_RULESETS_LOCK = threading.Lock()


def _ruleset(rules: str | Path | None) -> RuleSet:
    key = str(Path(rules).resolve()) if rules is not None else ""
    with _RULESETS_LOCK:
        if key not in _RULESETS:
            _RULESETS[key] = RuleSet.load(rules)
        return _RULESETS[key]


def _fetch_options(options: dict[str, Any]) -> FetchOptions:
    unknown = sorted(set(options) - set(FetchOptions.model_fields))
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(unknown)} (known: {', '.join(FetchOptions.model_fields)})")
    try:
        return FetchOptions(**options)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"{err['loc'][0]}: {err['msg']}") from exc


def check(url: str, *, rules: str | Path | None = None, replay: str | Path | None = None,
          save_warc: str | Path | None = None, **options: Any) -> Report:
    """Check one site, exactly as `pharmcheck check` does, and return its Report.

    `options` are the fetch options (`max_pages`, `timeout`, `site_timeout`, `max_bytes`,
    `max_redirects`, `per_host`, `retries`, `allow_private`, `ignore_robots`, `user_agent`);
    `rules` a rules folder replacing the shipped one; `replay` a WARC file or folder to answer
    from instead of the network; `save_warc` a file to record the exchanges to."""
    from pharmcheck.check import CheckContext, check_site
    from pharmcheck.fetch import ArchiveIndex

    ctx = CheckContext(ruleset=_ruleset(rules), options=_fetch_options(options),
                       archive=ArchiveIndex(str(replay)) if replay is not None else None)
    return check_site(url, ctx, save_warc=str(save_warc) if save_warc is not None else None)


def audit(urls: Iterable[str], *, workers: int = 8, rules: str | Path | None = None,
          replay: str | Path | None = None, **options: Any) -> list[Report]:
    """Check many sites on threads, `workers` requests on the network at once (more sites
    open, as `pharmcheck audit`; the per-host connection cap holds across them), and return their Reports in the order of `urls`, each URL once. Nothing
    is stored: `pharmcheck audit` is the command that keeps results in a database.

    Every URL is validated first: one bad URL raises UsageError before any site is fetched."""
    from pharmcheck.audit.runner import ContextSpec, SiteTask, ThreadRunner
    from pharmcheck.urls import InvalidURL, clip, site_url

    targets: list[str] = []
    for text in urls:
        try:
            url = site_url(text)
        except InvalidURL as exc:
            raise UsageError(f"invalid URL {clip(text)}: {exc}") from exc
        if url not in targets:
            targets.append(url)
    fetch = _fetch_options(options)
    spec = ContextSpec(options=fetch, rules=str(rules) if rules is not None else None,
                       replay=str(replay) if replay is not None else None)
    ctx = spec.build(_ruleset(rules))
    reports: dict[int, Report] = {}
    failures: list[tuple[str, BaseException]] = []

    class Collect:
        def site_started(self, task: SiteTask) -> None:
            pass

        def site_done(self, task: SiteTask, report: Report) -> None:
            reports[task.position] = report

        def site_failed(self, task: SiteTask, error: BaseException) -> None:
            failures.append((task.url, error))

    tasks = (SiteTask(url=url, position=i) for i, url in enumerate(targets))
    ThreadRunner(max(1, workers), ctx).run(tasks, spec, Collect(), threading.Event())
    if failures:
        url, error = failures[0]
        raise RuntimeError(f"internal error auditing {url}: {type(error).__name__}: {error}") from error
    return [reports[i] for i in range(len(targets))]
