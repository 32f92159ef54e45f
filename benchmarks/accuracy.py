"""Verdict quality on the labelled dev corpus, replayed offline.

Prints the confusion matrix, exact accuracy and the critical errors (rogue judged
legitimate, legitimate judged rogue). Usage: python benchmarks/accuracy.py [CORPUS_DIR] [-v]
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import DEFAULT_CORPUS, load_corpus, site_to_warc
from pharmcheck.check import CheckContext, check_site
from pharmcheck.fetch import ArchiveIndex
from pharmcheck.models import FetchOptions
from pharmcheck.rules import load_rules

LABELS = ["legitimate", "suspicious", "rogue", "not_pharmacy", "unreachable"]


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv
    root = Path(args[0]) if args else DEFAULT_CORPUS
    sites = load_corpus(root)
    if not sites:
        print(f"no corpus at {root}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    ruleset = load_rules()
    load_ms = (time.perf_counter() - start) * 1000
    print(f"rules: {len(ruleset.rules)} loaded and compiled in {load_ms:.0f} ms (cold, in this process)\n")
    matrix: Counter[tuple[str, str]] = Counter()
    critical = []
    with tempfile.TemporaryDirectory() as tmp:
        for site in sites:
            warc = site_to_warc(site, Path(tmp) / f"{site.host}.warc.gz")
            ctx = CheckContext(ruleset=ruleset, options=FetchOptions(), archive=ArchiveIndex(warc))
            report = check_site(site.url, ctx)
            got = report.verdict.value
            matrix[(site.label, got)] += 1
            mark = "ok " if got == site.label else "ERR"
            if (site.label, got) in (("rogue", "legitimate"), ("legitimate", "rogue")):
                critical.append(f"{site.host}: {site.label} judged {got}")
                mark = "CRIT"
            print(f"{mark:<4} {site.host:<38} label={site.label:<13} got={got:<13} score={report.score:>3}  {report.summary[:90]}")
            if verbose:
                for f in report.findings:
                    print(f"        {f.rule_id:<28} {f.weight:+g}  {f.evidence[0].text[:100] if f.evidence else ''}")
    print()
    labels_present = [lbl for lbl in LABELS if any(k[1] == lbl or k[0] == lbl for k in matrix)]
    print("confusion matrix (rows: label, columns: verdict)")
    print(f"{'':<14}" + "".join(f"{lbl[:12]:>13}" for lbl in labels_present))
    for true in labels_present:
        if not any(k[0] == true for k in matrix):
            continue
        print(f"{true:<14}" + "".join(f"{matrix[(true, got)]:>13}" for got in labels_present))
    exact = sum(v for (t, g), v in matrix.items() if t == g)
    total = sum(matrix.values())
    print(f"\nexact accuracy: {exact}/{total} = {exact / total:.1%}")
    print(f"critical errors: {len(critical)}" + "".join(f"\n  {c}" for c in critical))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
