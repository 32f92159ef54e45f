"""Command line: parse arguments, call the pipeline, turn exceptions into exit codes.

This package owns argv: `main` and the parser here, one module per subcommand group (check,
rules, audit, db), the shared options in options.py. Each subcommand turns its arguments into
typed values and calls plain functions (check.check_site, audit.session.run_audit, ...); no
argparse.Namespace goes below this package. Reports go to stdout (or -o FILE), everything
else to stderr.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from pharmcheck import TOOL_NAME, __version__
from pharmcheck.cli import heap

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from pharmcheck.cli import analysis, audit, check, db, facts, registers, rules
    from pharmcheck.cli.options import MAIN_EPILOG, Parser

    parser = Parser(prog=TOOL_NAME, description="Tells whether an online pharmacy is legitimate, with the evidence.",
                    epilog=MAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{TOOL_NAME} {__version__}")
    parser.add_argument("--config", metavar="FILE",
                        help="config file (default: ./pharmcheck.toml, else [tool.pharmcheck] in ./pyproject.toml)")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of errors (debugging)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    # The order of `pharmcheck --help`.
    for register in (check.register, rules.register, check.register_schema, analysis.register, audit.register,
                     db.register, facts.register, registers.register, check.register_completion):
        register(sub)
    return parser


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection within: building the parser imports every command's
    modules, ~10^5 objects that all live on, which the collector scanned again and again for
    nothing (~10% of the imports' time). They are kept for good after (keep_for_good)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        heap.keep_for_good()
        if collecting:
            gc.enable()


def main(argv: Sequence[str] | None = None, stderr: TextIO | None = None) -> int:
    err = stderr or sys.stderr
    heap.as_program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:
        # What argparse would print, without building the parser: that imports every
        # command's module (the report models, the rules, the stores), ~10x the answer's cost.
        print(f"{TOOL_NAME} {__version__}")
        return 0
    # One BLAS thread, unless the user chose: numpy (template signatures, the language
    # model) does only small vector products, and OpenBLAS's pool of one thread per core,
    # started on import, spun ~45 ms of CPU per run (2 cores; more with more cores) for
    # nothing. Audit worker processes inherit it: they are the parallelism.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with _collector_paused():
        from pharmcheck.cli import analysis
        from pharmcheck.cli.options import apply_config, config_argument
        from pharmcheck.errors import PharmcheckError
        from pharmcheck.models import ExitCode

    show_traceback = "--traceback" in argv
    args: argparse.Namespace | None = None
    try:
        argv = analysis.route_argv(argv)  # `audit networks RUN` -> `audit-networks RUN`
        with _collector_paused():
            parser = build_parser()
        if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (see `pharmcheck completion`)
            import argcomplete

            argcomplete.autocomplete(parser)
        apply_config(parser, config_argument(argv))
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(err)
            return ExitCode.USAGE
        code = int(args.func(args))
    # Every way out below goes through the ending: an audit that fails or is interrupted may
    # leave sites in flight on daemon threads, which Python's teardown could abort on.
    except PharmcheckError as exc:
        if show_traceback:
            raise
        print(f"{TOOL_NAME}: error: {exc}", file=err)
        code = int(exc.exit_code)
    except KeyboardInterrupt:
        if show_traceback:
            raise
        print(f"{TOOL_NAME}: interrupted", file=err)
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = ExitCode.OK
    except Exception as exc:
        if show_traceback:
            raise
        print(f"{TOOL_NAME}: internal error: {type(exc).__name__}: {exc} (rerun with --traceback and report it)", file=err)
        code = ExitCode.INTERNAL
    finally:
        from pharmcheck.console import reset_logging

        reset_logging()
    if getattr(args, "end_without_teardown", False):
        heap.end_without_teardown(code)  # returns only when it cannot end the program safely
    return code
