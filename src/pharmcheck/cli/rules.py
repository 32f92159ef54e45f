"""`pharmcheck rules list` and `pharmcheck rules test`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pharmcheck.cli.options import Parser, add_rules_option
from pharmcheck.errors import UsageError
from pharmcheck.models import ExitCode
from pharmcheck.report.output import write_output
from pharmcheck.ruleset import RuleSet


def register(sub: argparse._SubParsersAction) -> None:
    rules = sub.add_parser("rules", help="list or test the rules")
    rsub = rules.add_subparsers(dest="rules_command", metavar="ACTION", parser_class=Parser, required=True)
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


def cmd_rules_list(args: argparse.Namespace) -> int:
    from pharmcheck.networks.config import load_network_config

    ruleset = RuleSet.load(args.rules)
    # The batch-level finding an audit adds to members of a rogue network: not a page rule,
    # but weighed like one, so it is listed with them.
    net = load_network_config(args.rules).finding
    net_name = "Member of a network of rogue sites (audit networks)"
    if args.format == "json":
        rows = [
            {**cr.rule.model_dump(mode="json", include={"id", "criterion", "name", "severity", "weight", "confidence", "references"}),
             "file": ruleset.files[cr.rule.id], "scope": "site"}
            for cr in ruleset.rules
        ]
        rows.append({"id": net.rule_id, "criterion": net.criterion, "name": net_name, "severity": net.severity.value,
                     "weight": net.weight, "confidence": net.confidence.value, "references": net.references,
                     "file": "data/networks.yaml", "scope": "audit"})
        write_output("-", json.dumps(rows, indent=2) + "\n")
        return ExitCode.OK
    lines = [f"{'ID':<34} {'CRITERION':<13} {'SEVERITY':<9} {'WEIGHT':>6}  NAME"]
    for cr in sorted(ruleset.rules, key=lambda c: (c.rule.criterion, c.rule.id)):
        r = cr.rule
        lines.append(f"{r.id:<34} {r.criterion:<13} {r.severity.value:<9} {r.weight:>+6g}  {r.name}")
    lines.append(f"{net.rule_id:<34} {net.criterion:<13} {net.severity.value:<9} {net.weight:>+6g}  {net_name}")
    lines.append(f"{_count(len(ruleset.rules), 'rule')} and 1 audit-level finding, version {ruleset.version}, "
                 f"from {ruleset.source}")
    write_output("-", "\n".join(lines) + "\n")
    return ExitCode.OK


def cmd_rules_test(args: argparse.Namespace) -> int:
    from pharmcheck.ruletest import run_examples

    ruleset = RuleSet.load(args.rules)
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


def cmd_rules_fit(args: argparse.Namespace) -> int:
    from pharmcheck.judge.fit import fit_corpora
    from pharmcheck.judge.model import MODEL_FILE

    ruleset = RuleSet.load(args.rules)
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
