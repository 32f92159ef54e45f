"""Command line: parse arguments, call the pipeline, turn exceptions into exit codes.

The work lives in plain functions (check.check_site, rules.load_rules, ...); this module
only wires them to argv, stdout (the report) and stderr (everything else).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from pharmcheck import TOOL_NAME, __version__
from pharmcheck.console import COLOR_CHOICES, LOG_LEVELS
from pharmcheck.errors import PharmcheckError, UsageError
from pharmcheck.models import MAX_BYTES_LIMIT, ExitCode, FetchOptions, Report, Verdict
from pharmcheck.rules import RuleSet, load_rules

_VERDICT_RANK = {
    Verdict.legitimate: 0,
    Verdict.not_pharmacy: 0,
    Verdict.suspicious: 1,
    Verdict.rogue: 2,
}
_FAIL_ON = {"suspicious": 1, "rogue": 2}


class _Parser(argparse.ArgumentParser):
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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
    return value


def _byte_size(text: str) -> int:
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
    g.add_argument("--max-pages", type=_positive_int, default=d.max_pages, metavar="N",
                   help=f"pages to fetch per site (default {d.max_pages})")
    g.add_argument("--timeout", type=_positive_float, default=d.timeout, metavar="S",
                   help=f"per-request connect/read timeout in seconds (default {d.timeout:g})")
    g.add_argument("--site-timeout", type=_positive_float, default=d.site_timeout, metavar="S",
                   help=f"total deadline per site in seconds (default {d.site_timeout:g})")
    g.add_argument("--max-bytes", type=_byte_size, default=d.max_bytes, metavar="SIZE",
                   help="body cap per page after decompression (default 3M)")
    g.add_argument("--max-redirects", type=int, default=d.max_redirects, metavar="N",
                   help=f"redirects followed per request (default {d.max_redirects})")
    g.add_argument("--per-host", type=_positive_int, default=d.per_host, metavar="N",
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


def fetch_options_from_args(args: argparse.Namespace) -> FetchOptions:
    options = _fetch_options(args)
    if (options.render != "off" or options.screenshots) and not getattr(args, "replay", None):
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
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=TOOL_NAME, description="Tells whether an online pharmacy is legitimate, with the evidence.",
                     epilog=MAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{TOOL_NAME} {__version__}")
    parser.add_argument("--config", metavar="FILE",
                        help="config file (default: ./pharmcheck.toml, else [tool.pharmcheck] in ./pyproject.toml)")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of errors (debugging)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = sub.add_parser("check", help="check one site", description="Crawl a few pages of one site and print a verdict with evidence.",
                           epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("url", help="site URL or bare domain (https:// is assumed)")
    check.add_argument("--format", choices=["text", "json", "html", "markdown", "sarif"], default="text",
                       help="report format (default text; markdown for tickets, sarif 2.1.0 for code scanning)")
    check.add_argument("-o", "--output", default="-", metavar="FILE", help="write the report to FILE ('-' = stdout)")
    check.add_argument("--fail-on", choices=list(_FAIL_ON), default="rogue",
                       help="exit 1 when the verdict is at or above this (default rogue)")
    check.add_argument("--save-warc", metavar="FILE", help="record every request/response to a gzipped WARC")
    check.add_argument("--live-links", action="store_true", help="HTML report: clickable links instead of defanged ones")
    add_rules_option(check)
    add_fetch_options(check)
    add_console_options(check, color=True)
    check.set_defaults(func=cmd_check)

    rules = sub.add_parser("rules", help="list or test the rules")
    rsub = rules.add_subparsers(dest="rules_command", metavar="ACTION", parser_class=_Parser, required=True)
    rlist = rsub.add_parser("list", help="list the rules")
    rlist.add_argument("--format", choices=["text", "json"], default="text")
    add_rules_option(rlist)
    rlist.set_defaults(func=cmd_rules_list)
    rtest = rsub.add_parser("test", help="run every rule's must-match and must-not-match examples")
    rtest.add_argument("ids", nargs="*", metavar="RULE_ID", help="only these rules")
    add_rules_option(rtest)
    rtest.set_defaults(func=cmd_rules_test)
    rfit = rsub.add_parser("fit", help="refit the verdict model (model.yaml) from labelled corpus folders")
    rfit.add_argument("corpora", nargs="+", metavar="CORPUS", help="folder of <host>/site.json + <host>/pages/")
    rfit.add_argument("-o", "--output", metavar="FILE", help="where to write the model (default: model.yaml in the rules folder)")
    add_rules_option(rfit)
    rfit.set_defaults(func=cmd_rules_fit)

    schema = sub.add_parser("schema", help="print the JSON Schema of the report")
    schema.set_defaults(func=cmd_schema)

    completion = sub.add_parser("completion", help="print the shell code for tab completion",
                                description='Tab completion of commands and options: eval "$(pharmcheck completion bash)" '
                                            "in ~/.bashrc (zsh, fish and tcsh work the same way).")
    completion.add_argument("shell", choices=["bash", "zsh", "fish", "tcsh"])
    completion.set_defaults(func=cmd_completion)

    for register in EXTRA_COMMANDS:
        register(sub)
    return parser


# Subcommands that live in their own modules register here (audit, export, report).
EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []
# Rewrites of argv before parsing (`audit networks RUN` -> `audit-networks RUN`).
ARGV_ROUTES: list[Callable[[list[str]], list[str]]] = []


def load_ruleset(args: argparse.Namespace) -> RuleSet:

    return load_rules(getattr(args, "rules", None))


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


def _color(args: argparse.Namespace) -> bool:
    from pharmcheck.console import use_color

    if args.format != "text":
        return False
    if args.output != "-":
        return args.color == "always"  # a file is read later, elsewhere: plain unless asked
    return use_color(args.color, sys.stdout)


def render(report: Report, fmt: str, live_links: bool = False, color: bool = False) -> str:
    if fmt == "json":
        from pharmcheck.report import render_json

        return render_json(report)
    if fmt == "markdown":
        from pharmcheck.report.markdown import render_markdown

        return render_markdown(report, live_links=live_links)
    if fmt == "sarif":
        from pharmcheck.report.sarif import render_sarif

        return render_sarif(report)
    if fmt == "html":
        from pharmcheck.report.html import render_site_html

        return render_site_html(report, live_links=live_links)
    from pharmcheck.console import painter
    from pharmcheck.report import render_text

    return render_text(report, painter(color))


def exit_code_for(verdict: Verdict, fail_on: str) -> ExitCode:
    if verdict == Verdict.unreachable:
        return ExitCode.UNREACHABLE
    return ExitCode.FAIL_ON if _VERDICT_RANK[verdict] >= _FAIL_ON[fail_on] else ExitCode.OK


def cmd_check(args: argparse.Namespace) -> int:
    from pharmcheck.check import CheckContext, check_site
    from pharmcheck.console import CheckProgress, is_terminal
    from pharmcheck.fetch import ArchiveIndex

    console_setup(args)
    options = fetch_options_from_args(args)
    ruleset = load_ruleset(args)
    archive = ArchiveIndex(args.replay) if args.replay else None
    # A live line on a terminal only: piped or logged stderr gets none (and -q none at all).
    live = not args.quiet and not args.verbose and args.log_level is None and is_terminal(sys.stderr)
    with CheckProgress(sys.stderr, options.max_pages, enabled=live) as progress:
        ctx = CheckContext(ruleset=ruleset, options=options, archive=archive, on_fetch=progress.fetching)
        report = check_site(args.url, ctx, save_warc=args.save_warc)
    write_output(args.output, render(report, args.format, args.live_links, color=_color(args)))
    if not args.quiet and (args.output != "-" or args.format != "text"):
        scored = f"score {report.score}" if report.score is not None else "not assessed"
        print(f"{report.url}: {report.verdict.value} ({scored})", file=sys.stderr)
    return exit_code_for(report.verdict, args.fail_on)


def cmd_rules_list(args: argparse.Namespace) -> int:
    ruleset = load_ruleset(args)
    if args.format == "json":
        rows = [
            {**cr.rule.model_dump(mode="json", include={"id", "criterion", "name", "severity", "weight", "confidence", "references"}),
             "file": ruleset.files[cr.rule.id]}
            for cr in ruleset.rules
        ]
        write_output("-", json.dumps(rows, indent=2) + "\n")
        return ExitCode.OK
    lines = [f"{'ID':<34} {'CRITERION':<13} {'SEVERITY':<9} {'WEIGHT':>6}  NAME"]
    for cr in sorted(ruleset.rules, key=lambda c: (c.rule.criterion, c.rule.id)):
        r = cr.rule
        lines.append(f"{r.id:<34} {r.criterion:<13} {r.severity.value:<9} {r.weight:>+6g}  {r.name}")
    lines.append(f"{_count(len(ruleset.rules), 'rule')}, version {ruleset.version}, from {ruleset.source}")
    write_output("-", "\n".join(lines) + "\n")
    return ExitCode.OK


def cmd_rules_test(args: argparse.Namespace) -> int:
    from pharmcheck.ruletest import run_examples

    ruleset = load_ruleset(args)
    unknown = set(args.ids) - {cr.rule.id for cr in ruleset.rules}
    if unknown:
        raise UsageError(f"unknown rule id(s): {', '.join(sorted(unknown))}")
    results = run_examples(ruleset, set(args.ids) or None)
    failed = [r for r in results if not r.ok]
    for r in failed:
        want = "should match but did not" if r.expected else "should not match but did"
        print(f"FAIL {r.rule_id}: {want}: {r.example[:150]!r}")
    rules_tested = len({r.rule_id for r in results})
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed "
          f"({_count(rules_tested, 'rule')}, {_count(len(results), 'example')})")
    return ExitCode.FAIL_ON if failed else ExitCode.OK


def cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    write_output("-", argcomplete.shellcode([TOOL_NAME], shell=args.shell))
    return ExitCode.OK


def cmd_rules_fit(args: argparse.Namespace) -> int:
    from pharmcheck.judge.fit import fit_corpora
    from pharmcheck.judge.model import MODEL_FILE

    ruleset = load_ruleset(args)
    out = Path(args.output) if args.output else ruleset.source / MODEL_FILE
    model, counts = fit_corpora(args.corpora, ruleset)
    try:
        model.save(out)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write: {exc.strerror or exc}") from exc
    sites = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
    print(f"fitted on {sum(counts.values())} sites ({sites}), rules {ruleset.version}: {out}", file=sys.stderr)
    return ExitCode.OK


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def cmd_schema(args: argparse.Namespace) -> int:
    from pharmcheck.report import report_schema

    write_output("-", report_schema())
    return ExitCode.OK


def _register_extra_commands() -> None:
    """Import the modules that add subcommands to EXTRA_COMMANDS. Imported here, not at the
    top: they import this module for its shared option helpers."""
    import pharmcheck.audit.analysis_cli
    import pharmcheck.audit.cli
    import pharmcheck.audit.dbcli  # noqa: F401


def _config_argument(argv: list[str]) -> str | None:
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


def _command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def apply_config(parser: argparse.ArgumentParser, config_file: str | None) -> None:
    """Defaults of every command's options from the config file and PHARMCHECK_* variables
    (precedence: command line > environment > file > built-in; see config.py)."""
    from pharmcheck.config import defaults_for, find_config

    config = find_config(config_file)
    for command, sub in _command_parsers(parser).items():
        defaults = defaults_for(sub, command, config)
        if defaults:
            sub.set_defaults(**defaults)


def main(argv: Sequence[str] | None = None, stderr: TextIO | None = None) -> int:
    err = stderr or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in argv
    try:
        _register_extra_commands()
        for route in ARGV_ROUTES:
            argv = route(argv)
        parser = build_parser()
        if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (see `pharmcheck completion`)
            import argcomplete

            argcomplete.autocomplete(parser)
        apply_config(parser, _config_argument(argv))
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(err)
            return ExitCode.USAGE
        return int(args.func(args))
    except PharmcheckError as exc:
        if show_traceback:
            raise
        print(f"{TOOL_NAME}: error: {exc}", file=err)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        if show_traceback:
            raise
        print(f"{TOOL_NAME}: interrupted", file=err)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except Exception as exc:
        if show_traceback:
            raise
        print(f"{TOOL_NAME}: internal error: {type(exc).__name__}: {exc} (rerun with --traceback and report it)", file=err)
        return ExitCode.INTERNAL
    finally:
        from pharmcheck.console import reset_logging

        reset_logging()
