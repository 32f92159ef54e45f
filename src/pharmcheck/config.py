"""Defaults for command-line options from a config file and `PHARMCHECK_*` environment variables.

Precedence, lowest to highest: built-in defaults < the config file < environment variables <
options on the command line. The config file is `--config FILE` (or `PHARMCHECK_CONFIG`), else
`pharmcheck.toml` in the current folder, else the `[tool.pharmcheck]` table of `pyproject.toml`
there. Keys are option names without the dashes (`max-pages = 5`, `max_pages` works too);
top-level keys apply to every command that has the option, a `[check]` / `[audit]` table
(`[tool.pharmcheck.audit]` in pyproject.toml) to that command only, and wins over them.
Environment variables are `PHARMCHECK_` + the option name in capitals (`PHARMCHECK_MAX_PAGES=5`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pharmcheck.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_PREFIX = "PHARMCHECK_"
CONFIG_ENV = "PHARMCHECK_CONFIG"
CONFIG_FILE = "pharmcheck.toml"
# Options a file or the environment may set: the common ones, never the positional input,
# the output file, or one-off switches (--resume, --traceback).
SETTABLE = frozenset({
    "max_pages", "timeout", "site_timeout", "max_bytes", "max_redirects", "per_host", "retries", "user_agent",
    "allow_private", "ignore_robots", "rules", "fail_on", "format", "color", "log_level", "db", "workers",
    "processes", "live_links", "no_progress", "quiet", "offline", "rdap_base", "resolver",
})
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass
class Config:
    """What was found: option values by command ('' = every command), and where from."""

    source: str = ""  # the file read, for messages ("" = none)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)


def find_config(explicit: str | None, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    named = explicit or env.get(CONFIG_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise UsageError(f"config file not found: {named}")
        return _read(path, pyproject=path.name == "pyproject.toml")
    if (cwd / CONFIG_FILE).is_file():
        return _read(cwd / CONFIG_FILE, pyproject=False)
    if (cwd / "pyproject.toml").is_file():
        return _read(cwd / "pyproject.toml", pyproject=True)
    return Config()


def _read(path: Path, pyproject: bool) -> Config:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from exc
    if pyproject:
        table = data.get("tool", {}).get("pharmcheck")
        if table is None:
            return Config()  # a pyproject.toml without our table is not ours
        where = f"{path} [tool.pharmcheck]"
    else:
        table, where = data, str(path)
    if not isinstance(table, dict):
        raise UsageError(f"{where}: expected a table of options")
    values: dict[str, dict[str, Any]] = {"": {}}
    for key, value in table.items():
        if isinstance(value, dict):
            values[key] = {_option(k, f"{where} [{key}]"): v for k, v in value.items()}
        else:
            values[""][_option(key, where)] = value
    return Config(source=where, values=values)


def _option(key: str, where: str) -> str:
    name = key.replace("-", "_")
    if name not in SETTABLE:
        known = ", ".join(sorted(k.replace("_", "-") for k in SETTABLE))
        raise UsageError(f"{where}: unknown option {key!r} (known: {known})")
    return name


def defaults_for(parser: argparse.ArgumentParser, command: str, config: Config,
                 env: Mapping[str, str] | None = None, nested: bool = False) -> dict[str, Any]:
    """The defaults to give `parser` (one command's): config file, then environment, each
    value converted and checked as its command-line option would be.

    `nested`: the parser is an action of `command` (`rules list`). A shared value (top level
    or environment) outside such an action's own choices was meant for another command
    (`format = "html"` is for check, not for `rules list`'s text/json) and is left out."""
    env = os.environ if env is None else env
    actions = {a.dest: a for a in parser._actions if a.option_strings and a.dest in SETTABLE}
    found: dict[str, tuple[Any, str, bool]] = {}
    for scope in ("", command):
        for name, value in config.values.get(scope, {}).items():
            if name in actions:
                found[name] = (value, f"{config.source}: {name.replace('_', '-')}", scope == "")
    for name in actions:
        variable = ENV_PREFIX + name.upper()
        if variable in env:
            found[name] = (env[variable], variable, True)
    out: dict[str, Any] = {}
    for name, (value, where, shared) in found.items():
        action = actions[name]
        if nested and shared and action.choices is not None and str(value) not in map(str, action.choices):
            continue
        out[name] = _convert(action, value, where)
    return out


def _convert(action: argparse.Action, value: Any, where: str) -> Any:
    if action.nargs == 0:  # a switch: store_true / store_false
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise UsageError(f"{where}: expected true or false, got {value!r}")
    if isinstance(value, (dict, list)):
        raise UsageError(f"{where}: expected a single value, got {value!r}")
    text = str(value)
    try:
        converted = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
        raise UsageError(f"{where}: {exc}") from exc
    if action.choices is not None and converted not in action.choices:
        raise UsageError(f"{where}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return converted
