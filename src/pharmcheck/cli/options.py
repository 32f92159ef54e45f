"""What the subcommands share: the argparse parser that fails with one line (exit 2), option
types, the rules and fetch options, and turning those into typed values (FetchOptions)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from pharmcheck.console import COLOR_CHOICES, LOG_LEVELS
from pharmcheck.errors import UsageError
from pharmcheck.models import MAX_BYTES_LIMIT, FetchOptions


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (exit 2, one line) instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        return super().parse_known_args(_bare_render_flag(args), namespace)


RENDER_MODES = ("on", "auto", "off")


def _bare_render_flag(args: Sequence[str] | None) -> list[str] | None:
    """`--render` followed by something that is not a mode is the bare flag: `check --render
    example.com` must not read the URL as the mode (argparse would, with nargs="?")."""
    if args is None:
        return None
    out = list(args)
    for i, arg in enumerate(out[:-1]):
        if arg == "--render" and out[i + 1] not in RENDER_MODES:
            out[i] = "--render=on"
    return out


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
    return value


def byte_size(text: str) -> int:
    units = {"k": 1_000, "kb": 1_000, "m": 1_000_000, "mb": 1_000_000, "g": 1_000_000_000, "gb": 1_000_000_000}
    low = text.strip().lower()
    for suffix in sorted(units, key=len, reverse=True):
        if low.endswith(suffix):
            number, factor = low[: -len(suffix)], units[suffix]
            break
    else:
        number, factor = low, 1
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 3000000, 500k, 3M)") from None
    if value < 1024:
        raise argparse.ArgumentTypeError(f"must be at least 1024 bytes: {text!r}")
    if value > MAX_BYTES_LIMIT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_BYTES_LIMIT // 1_000_000}M: {text!r}")
    return value


EXIT_CODES_EPILOG = """\
exit codes:
  0    checked; verdict below --fail-on
  1    checked; verdict at or above --fail-on (rules test: an example failed)
  2    usage, configuration, input-file or rule error (one line on stderr)
  3    could not assess (unreachable)
  4    internal error (a bug: rerun with --traceback and report it)
  130  interrupted (Ctrl-C); finished work is kept

configuration: options also come from pharmcheck.toml or [tool.pharmcheck] in
pyproject.toml (or --config FILE) and from PHARMCHECK_* environment variables
(PHARMCHECK_MAX_PAGES=5); the command line wins over the environment, which wins
over the file. NO_COLOR turns colour off.
"""
MAIN_EPILOG = """\
examples:
  pharmcheck check pharmacy.example                      text report on stdout
  pharmcheck check pharmacy.example --format json -o r.json
  pharmcheck audit domains.txt --format csv -o out.csv   results also in pharmcheck.db
  pharmcheck rules test                                  every rule's examples
  eval "$(pharmcheck completion bash)"                   tab completion in bash

""" + EXIT_CODES_EPILOG
CHECK_EPILOG = """\
examples:
  pharmcheck check https://pharmacy.example/
  pharmcheck check pharmacy.example --format json -o r.json
  pharmcheck check pharmacy.example --format markdown   for a ticket
  pharmcheck check pharmacy.example --format sarif -o r.sarif
  pharmcheck check pharmacy.example --save-warc site.warc.gz
  pharmcheck check https://pharmacy.example/ --replay site.warc.gz   offline, from a capture

""" + EXIT_CODES_EPILOG


def add_console_options(p: argparse.ArgumentParser, color: bool = False) -> None:
    """-q, -v, --log-level (and --color where a report goes to a terminal)."""
    g = p.add_argument_group("output")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress or summary on stderr, only errors")
    g.add_argument("-v", "--verbose", action="count", default=0,
                   help="log what happens on stderr (-v: each site, -vv: each request)")
    g.add_argument("--log-level", choices=LOG_LEVELS, default=None, help="log level (default warning; -v = info)")
    if color:
        g.add_argument("--color", choices=COLOR_CHOICES, default="auto",
                       help="colour the text report: auto (on a terminal, unless NO_COLOR is set), always, never")


def console_setup(args: argparse.Namespace) -> None:
    """Log level from -q/-v/--log-level; called by the commands that have those options."""
    from pharmcheck.console import setup_logging

    level = args.log_level or ("error" if args.quiet else {0: "warning", 1: "info"}.get(args.verbose, "debug"))
    setup_logging(level, sys.stderr)


def add_rules_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rules", metavar="DIR", help="rules directory replacing the default rules")


def add_fetch_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `check` and `audit`: how pages are fetched."""
    d = FetchOptions()
    g = p.add_argument_group("fetching")
    g.add_argument("--max-pages", type=positive_int, default=d.max_pages, metavar="N",
                   help=f"pages to fetch per site (default {d.max_pages})")
    g.add_argument("--timeout", type=positive_float, default=d.timeout, metavar="S",
                   help=f"per-request connect/read timeout in seconds (default {d.timeout:g})")
    g.add_argument("--site-timeout", type=positive_float, default=d.site_timeout, metavar="S",
                   help=f"total deadline per site in seconds (default {d.site_timeout:g})")
    g.add_argument("--max-bytes", type=byte_size, default=d.max_bytes, metavar="SIZE",
                   help="body cap per page after decompression (default 3M)")
    g.add_argument("--max-redirects", type=int, default=d.max_redirects, metavar="N",
                   help=f"redirects followed per request (default {d.max_redirects})")
    g.add_argument("--per-host", type=positive_int, default=d.per_host, metavar="N",
                   help=f"concurrent connections to one host (default {d.per_host})")
    g.add_argument("--retries", type=int, default=d.retries, metavar="N",
                   help=f"retries on connection errors, 408, 429 and 5xx (default {d.retries})")
    g.add_argument("--user-agent", metavar="UA", help="User-Agent header (default names the tool and its URL)")
    g.add_argument("--allow-private", action="store_true",
                   help="allow loopback/private addresses (local testing; turns the SSRF guard off)")
    g.add_argument("--ignore-robots", action="store_true", help="do not obey robots.txt (for auditors)")
    g.add_argument("--replay", metavar="PATH", help="answer every fetch from a .warc(.gz) file or folder of them")
    g.add_argument("--render", nargs="?", const="on", default="off", choices=RENDER_MODES,
                   help="read pages as headless Chromium renders them (scripts run; same guard and limits); "
                        "'--render auto' only pages that look empty or script-built")
    g.add_argument("--screenshots", action="store_true",
                   help="keep a full-page screenshot of every page read (in the WARC and the HTML report)")
    g.add_argument("--resolve", action="append", default=[], metavar="HOST:PORT:ADDR",
                   help="connect to ADDR for HOST:PORT, as curl does (repeatable; still checked by the SSRF guard)")
    f = p.add_argument_group("site facts")
    f.add_argument("--offline", action="store_true",
                   help="no live site facts (RDAP, DNS, certificate handshake, seal issuers); pages are still fetched")
    f.add_argument("--rdap-base", metavar="URL", help="ask this RDAP server for every domain (default: IANA bootstrap)")
    f.add_argument("--resolver", metavar="ADDR[:PORT]", help="DNS server for the site's DNS facts (default: the system's)")


def fetch_options_from_args(args: argparse.Namespace) -> FetchOptions:
    options = _fetch_options(args)
    if options.uses_browser and not getattr(args, "replay", None):
        # Fail before any work (exit 2, one line) rather than on the first page. A replay
        # needs no browser: it reads the renderings the capture kept.
        from pharmcheck.fetch.render import require_browser

        require_browser("--render" if options.render != "off" else "--screenshots")
    return options


def _fetch_options(args: argparse.Namespace) -> FetchOptions:
    try:
        return FetchOptions(
            max_pages=args.max_pages,
            timeout=args.timeout,
            site_timeout=args.site_timeout,
            max_bytes=args.max_bytes,
            max_redirects=args.max_redirects,
            per_host=args.per_host,
            retries=args.retries,
            allow_private=args.allow_private,
            ignore_robots=args.ignore_robots,
            user_agent=args.user_agent,
            render=getattr(args, "render", "off"),
            screenshots=getattr(args, "screenshots", False),
            resolve=tuple(getattr(args, "resolve", None) or ()),
            offline=getattr(args, "offline", False),
            rdap_base=_web_url("--rdap-base", getattr(args, "rdap_base", None)),
            resolver=_resolver(getattr(args, "resolver", None)),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        message = str(err["msg"]).removeprefix("Value error, ")
        raise UsageError(f"--{str(err['loc'][0]).replace('_', '-')}: {message}") from exc


def _resolver(value: str | None) -> str | None:
    if value is not None:
        from pharmcheck.facts.dnsfacts import parse_resolver

        try:
            parse_resolver(value)
        except ValueError as exc:
            raise UsageError(f"--resolver: {exc}") from exc
    return value


def _web_url(option: str, value: str | None) -> str | None:
    if value is not None and not value.lower().startswith(("http://", "https://")):
        raise UsageError(f"{option}: not an http(s) URL: {value!r}")
    return value


def config_argument(argv: list[str]) -> str | None:
    """--config FILE, read before parsing: it sets the defaults the parse starts from."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--config":
            if i + 1 >= len(argv):
                raise UsageError("--config needs a file name")
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def _command_parsers(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command's parser by its full name ("check", "rules", "rules list"...), nested
    actions included: `rules list` reads the same config as `check`."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                found[full] = sub
                found.update(_command_parsers(sub, full))
    return found


def apply_config(parser: argparse.ArgumentParser, config_file: str | None) -> None:
    """Defaults of every command's options from the config file and PHARMCHECK_* variables
    (precedence: command line > environment > file > built-in; see config.py). A nested
    action (`rules list`) reads the top level, then its command's table (`[rules]`)."""
    from pharmcheck.config import defaults_for, find_config

    config = find_config(config_file)
    for command, sub in _command_parsers(parser).items():
        # `rules list` and `audit networks` (routed as `audit-networks`) are actions of a command
        scope, nested = command.split()[0].partition("-")[0], " " in command or "-" in command
        defaults = defaults_for(sub, scope, config, nested=nested)
        if defaults:
            sub.set_defaults(**defaults)
