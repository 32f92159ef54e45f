"""`pharmcheck check URL` (one site, a report on stdout or -o FILE) and `pharmcheck schema`."""

from __future__ import annotations

import argparse
import sys

from pharmcheck import TOOL_NAME
from pharmcheck.cli.options import (
    CHECK_EPILOG,
    add_console_options,
    add_fetch_options,
    add_rules_option,
    console_setup,
    fetch_options_from_args,
)
from pharmcheck.models import FAIL_ON_RANK, VERDICT_RANK, ExitCode, Verdict
from pharmcheck.report import RenderOptions, get_format, site_formats
from pharmcheck.report.output import write_output


def register(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser("check", help="check one site", description="Crawl a few pages of one site and print a verdict with evidence.",
                           epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("url", help="site URL or bare domain (https:// is assumed)")
    check.add_argument("--format", choices=site_formats(), default="text",
                       help="report format (default text; markdown for tickets, sarif 2.1.0 for code scanning)")
    check.add_argument("-o", "--output", default="-", metavar="FILE", help="write the report to FILE ('-' = stdout)")
    check.add_argument("--fail-on", choices=list(FAIL_ON_RANK), default="rogue",
                       help="exit 1 when the verdict is at or above this (default rogue)")
    check.add_argument("--save-warc", metavar="FILE", help="record every request/response to a gzipped WARC")
    check.add_argument("--live-links", action="store_true", help="HTML report: clickable links instead of defanged ones")
    add_rules_option(check)
    add_fetch_options(check)
    add_console_options(check, color=True)
    # A check closes every file it writes: it may end without Python's teardown (cli/heap.py).
    check.set_defaults(func=cmd_check, end_without_teardown=True)


def register_completion(sub: argparse._SubParsersAction) -> None:
    completion = sub.add_parser("completion", help="print the shell code for tab completion",
                                description='Tab completion of commands and options: eval "$(pharmcheck completion bash)" '
                                            "in ~/.bashrc (zsh, fish and tcsh work the same way).")
    completion.add_argument("shell", choices=["bash", "zsh", "fish", "tcsh"])
    completion.set_defaults(func=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    write_output("-", argcomplete.shellcode([TOOL_NAME], shell=args.shell))
    return ExitCode.OK


def register_schema(sub: argparse._SubParsersAction) -> None:
    schema = sub.add_parser("schema", help="print the JSON Schema of the report")
    schema.set_defaults(func=cmd_schema)


def exit_code_for(verdict: Verdict, fail_on: str) -> ExitCode:
    if verdict == Verdict.unreachable:
        return ExitCode.UNREACHABLE
    return ExitCode.FAIL_ON if VERDICT_RANK[verdict.value] >= FAIL_ON_RANK[fail_on] else ExitCode.OK


def _color(args: argparse.Namespace) -> bool:
    from pharmcheck.console import use_color

    if args.format != "text":
        return False
    if args.output != "-":
        return bool(args.color == "always")  # a file is read later, elsewhere: plain unless asked
    return use_color(args.color, sys.stdout)


def cmd_check(args: argparse.Namespace) -> int:
    from pharmcheck.check import CheckContext, check_site
    from pharmcheck.cli.heap import keep_for_good
    from pharmcheck.console import CheckProgress, is_terminal, painter
    from pharmcheck.fetch import ArchiveIndex
    from pharmcheck.ruleset import RuleSet

    console_setup(args)
    options = fetch_options_from_args(args)
    ruleset = RuleSet.load(args.rules)
    keep_for_good()  # the rules live until exit: no collection scans them again
    archive = ArchiveIndex(args.replay) if args.replay else None
    # A live line on a terminal only: piped or logged stderr gets none (and -q none at all).
    live = not args.quiet and not args.verbose and args.log_level is None and is_terminal(sys.stderr)
    with CheckProgress(sys.stderr, options.max_pages, enabled=live) as progress:
        ctx = CheckContext(ruleset=ruleset, options=options, archive=archive, on_fetch=progress.fetching)
        report = check_site(args.url, ctx, save_warc=args.save_warc)
    color = _color(args)
    if color:
        from pharmcheck.report.text import render_text  # only the text format paints

        content = render_text(report, painter(True))
    else:
        content = get_format(args.format).render_site(report, RenderOptions(live_links=args.live_links))
    write_output(args.output, content)
    if not args.quiet and (args.output != "-" or args.format != "text"):
        scored = f"score {report.score}" if report.score is not None else "not assessed"
        print(f"{report.url}: {report.verdict.value} ({scored})", file=sys.stderr)
    return exit_code_for(report.verdict, args.fail_on)


def cmd_schema(args: argparse.Namespace) -> int:
    from pharmcheck.report.json import report_schema

    write_output("-", report_schema())
    return ExitCode.OK
