"""`pharmcheck registers import FILE` and `pharmcheck registers list`: offline register snapshots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pharmcheck.cli.options import Parser
from pharmcheck.errors import UsageError
from pharmcheck.models import ExitCode


def register(sub: argparse._SubParsersAction) -> None:
    registers = sub.add_parser("registers", help="offline snapshots of registers and lists (allow/deny evidence)",
                               description="Import lists that registers publish (CSV: domain,status,source,date) so "
                                           "that check and audit match them (the `register` matcher).")
    rsub = registers.add_subparsers(dest="registers_command", metavar="COMMAND", parser_class=Parser, required=True)
    imp = rsub.add_parser("import", help="validate a register CSV and store it", description="Validate a register "
                          "CSV (header domain,status,source,date) and store it where check and audit read it.")
    imp.add_argument("file", help="the CSV file")
    imp.add_argument("--name", help="list name (default: the file name without .csv)")
    imp.set_defaults(func=cmd_import)
    show = rsub.add_parser("list", help="the imported lists, their sizes and dates")
    show.set_defaults(func=cmd_list)


def cmd_import(args: argparse.Namespace) -> int:
    from pharmcheck.facts.registers import RegisterError, import_register

    try:
        name, count, where = import_register(Path(args.file), args.name)
    except RegisterError as exc:
        raise UsageError(f"{args.file}: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"cannot store the register: {exc.strerror or exc}") from exc
    print(f"register {name}: {count} entries -> {where}", file=sys.stderr)
    return ExitCode.OK


def cmd_list(args: argparse.Namespace) -> int:
    from collections import Counter

    from pharmcheck.facts.registers import load_registers, registers_dir

    registers, lists = load_registers()
    sizes: Counter[str] = Counter()
    dates: dict[str, set[str]] = {}
    for entries in registers.values():
        for name, entry in entries:
            sizes[name] += 1
            dates.setdefault(name, set()).add(entry.date)
    print(f"{registers_dir()}")
    for name in lists:
        print(f"  {name}: {sizes[name]} entries, dated {', '.join(sorted(dates.get(name, set())))}")
    return ExitCode.OK
