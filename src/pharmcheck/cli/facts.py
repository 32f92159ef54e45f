"""`pharmcheck facts update-bootstrap`: refresh the RDAP bootstrap file from IANA."""

from __future__ import annotations

import argparse
import json
import sys

from pharmcheck.cli.options import Parser, add_console_options, console_setup
from pharmcheck.errors import PharmcheckError, UsageError
from pharmcheck.models import ExitCode

# Also facts.bootstrap.IANA_URL; not imported here: the facts package loads every provider,
# and building the parser must stay cheap.
IANA_URL = "https://data.iana.org/rdap/dns.json"


def register(sub: argparse._SubParsersAction) -> None:
    facts = sub.add_parser("facts", help="site facts: the RDAP bootstrap file",
                           description="Site facts gathered beyond the pages (RDAP, certificate, host name).")
    fsub = facts.add_subparsers(dest="facts_command", metavar="COMMAND", parser_class=Parser, required=True)
    update = fsub.add_parser("update-bootstrap", help="refresh the RDAP bootstrap file (which server answers for each TLD)",
                             description="Fetch IANA's RDAP bootstrap file for domains (RFC 9224) and keep it in the "
                                         "user's cache folder, where checks find it (when newer than the shipped one).")
    update.add_argument("--url", default=IANA_URL, help=f"where to fetch it (default {IANA_URL})")
    update.add_argument("-o", "--output", metavar="FILE", help="write it here instead of the cache folder")
    update.add_argument("--allow-private", action="store_true", help="allow a loopback/private address (a local mirror)")
    add_console_options(update)
    update.set_defaults(func=cmd_update_bootstrap)
    show = fsub.add_parser("bootstrap", help="show which RDAP bootstrap file is used and its date")
    show.set_defaults(func=cmd_show_bootstrap)


def cmd_update_bootstrap(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pharmcheck.facts.bootstrap import parse_bootstrap, user_copy
    from pharmcheck.fetch.base import Deadline, follow_redirects
    from pharmcheck.fetch.live import LiveTransport
    from pharmcheck.models import FetchOptions

    console_setup(args)
    if not args.url.lower().startswith(("http://", "https://")):
        raise UsageError(f"--url: not an http(s) URL: {args.url!r}")
    options = FetchOptions(allow_private=args.allow_private, max_bytes=10_000_000, timeout=30)
    transport = LiveTransport(options, any_body=True)
    transport.session.headers["Accept"] = "application/json"
    try:
        resp = follow_redirects(transport, args.url, Deadline(120), options.max_redirects)
    finally:
        transport.close()
    if resp.error is not None or resp.status != 200:
        why = resp.error.message if resp.error else f"HTTP {resp.status}"
        raise PharmcheckError(f"cannot fetch the RDAP bootstrap file from {args.url}: {why}")
    try:
        bootstrap = parse_bootstrap(json.loads(resp.body))
    except ValueError as exc:
        raise PharmcheckError(f"{args.url}: {exc}") from exc
    target = Path(args.output) if args.output else user_copy()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_bytes(resp.body)
        temporary.replace(target)  # never a half-written file where checks read it
    except OSError as exc:
        raise PharmcheckError(f"cannot write {target}: {exc.strerror or exc}") from exc
    if not args.quiet:
        print(f"RDAP bootstrap of {bootstrap.publication or 'unknown date'}: {len(bootstrap.bases)} TLDs -> {target}",
              file=sys.stderr)
    return ExitCode.OK


def cmd_show_bootstrap(args: argparse.Namespace) -> int:
    from pharmcheck.facts.bootstrap import load_bootstrap

    bootstrap = load_bootstrap()
    print(f"{bootstrap.path}\npublication {bootstrap.publication}, {len(bootstrap.bases)} TLDs")
    return ExitCode.OK
