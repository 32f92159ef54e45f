"""Verdict quality on the labelled corpora, replayed offline.

Prints the confusion matrix, exact accuracy and the critical errors (rogue judged
legitimate, legitimate judged rogue), overall and per language of the site (site.json).
Usage: python benchmarks/accuracy.py [CORPUS_DIR ...] [-v]  (several folders are judged together)

`--cv [CORPUS_DIR...]` (default: shared dev + train) cross-validates the fitted judgement
instead: stratified k-fold (`--folds K`, default 5, fixed `--seed`), the model (text model
included) refitted on each training fold and the held-out fold judged; prints each held-out
verdict, the confusion matrix, per-language figures and, as its last line,
`cv exact N/M (P%), critical K, rogue caught R/S` (rogue caught = judged rogue or suspicious).
`--without RULE_ID,...` drops those rules' findings (and rescores) before the folds: how much
the held-out figure rests on them. A rule written after looking at a corpus site and firing
on that site alone gets its weight from its severity prior in the fold that holds the site
out, so the figure without such rules is the more honest guess for unseen sites.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import CV_CORPORA, DEFAULT_CORPUS, load_corpus, site_to_warc
from pharmcheck.check import CheckContext, check_site
from pharmcheck.fetch import ArchiveIndex
from pharmcheck.models import FetchOptions
from pharmcheck.ruleset import RuleSet

LABELS = ["legitimate", "suspicious", "rogue", "not_pharmacy", "unreachable"]


CRITICAL = {("rogue", "legitimate"), ("legitimate", "rogue")}


def _usage(message: str) -> NoReturn:
    print(f"accuracy.py: {message}", file=sys.stderr)
    raise SystemExit(2)


def _value(name: str) -> str | None:
    """The argument after option `name`, None if the option is absent; a one-line error (exit
    2) if it has none."""
    if name not in sys.argv:
        return None
    at = sys.argv.index(name) + 1
    if at >= len(sys.argv) or sys.argv[at].startswith("-"):
        _usage(f"{name} needs a value")
    return sys.argv[at]


def _option(name: str, default: int) -> int:
    value = _value(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        _usage(f"{name} needs a whole number, not {value!r}")


def print_matrix(matrix: Counter[tuple[str, str]]) -> None:
    labels_present = [lbl for lbl in LABELS if any(k[1] == lbl or k[0] == lbl for k in matrix)]
    print("confusion matrix (rows: label, columns: verdict)")
    print(f"{'':<14}" + "".join(f"{lbl[:12]:>13}" for lbl in labels_present))
    for true in labels_present:
        if not any(k[0] == true for k in matrix):
            continue
        print(f"{true:<14}" + "".join(f"{matrix[(true, got)]:>13}" for got in labels_present))


def figures(pairs: list[tuple[str, str]]) -> str:
    """`exact N/M (P%), critical K, rogue caught R/S` for (label, verdict) pairs."""
    exact = sum(1 for t, g in pairs if t == g)
    critical = sum(1 for pair in pairs if pair in CRITICAL)
    rogue = [g for t, g in pairs if t == "rogue"]
    caught = sum(1 for g in rogue if g in ("rogue", "suspicious"))
    pct = 100 * exact / len(pairs) if pairs else 0.0
    return f"exact {exact}/{len(pairs)} ({pct:.0f}%), critical {critical}, rogue caught {caught}/{len(rogue)}"


def cv_main(argv: list[str]) -> int:
    from pharmcheck.judge.corpus import collect, load_labelled
    from pharmcheck.judge.fit import cross_validate

    skip = {sys.argv.index(o) + 1 for o in ("--folds", "--seed", "--without") if o in sys.argv}
    roots = [Path(a) for i, a in enumerate(sys.argv[1:], 1) if not a.startswith("-") and i not in skip]
    folds, seed = _option("--folds", 5), _option("--seed", 0)
    ruleset = RuleSet.load()
    without = {rule_id for rule_id in (_value("--without") or "").split(",") if rule_id}
    unknown = without - {compiled.rule.id for compiled in ruleset.rules}
    if unknown:
        print(f"accuracy.py: no rule {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    sites = load_labelled(roots or CV_CORPORA)
    start = time.perf_counter()
    evidence = collect(sites, ruleset)
    if without:
        from pharmcheck.score import score_site

        for ev in evidence:
            ev.findings = [f for f in ev.findings if f.rule_id not in without]
            ev.score = score_site(ev.findings, ruleset.scoring, assessed=bool(ev.facts.pages))
        print(f"without {len(without)} rules: {', '.join(sorted(without))}")
    held = cross_validate(evidence, ruleset, folds=folds, seed=seed)
    elapsed = time.perf_counter() - start
    for h in held:
        mark = "CRIT" if (h.label, h.verdict) in CRITICAL else ("ok " if h.label == h.verdict else "ERR")
        print(f"{mark:<4} {h.host:<38} {h.language:<3} label={h.label:<13} got={h.verdict:<13} p={h.confidence:.2f}")
    print(f"\n{len(held)} sites, {folds}-fold stratified (seed {seed}), refitted per fold in {elapsed:.1f} s\n")
    matrix: Counter[tuple[str, str]] = Counter((h.label, h.verdict) for h in held)
    print_matrix(matrix)
    print("\nper language")
    for lang in sorted({h.language for h in held}, key=lambda lg: (-sum(h.language == lg for h in held), lg)):
        print(f"  {lang:<4} " + figures([(h.label, h.verdict) for h in held if h.language == lang]))
    if any(h.language != "en" for h in held):
        print(f"  {'!en':<4} " + figures([(h.label, h.verdict) for h in held if h.language != "en"]))
    print()
    print("cv " + figures([(h.label, h.verdict) for h in held]))
    return 0


def main() -> int:
    if "--cv" in sys.argv:
        return cv_main(sys.argv)
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv
    roots = [Path(a) for a in args] or [DEFAULT_CORPUS]
    sites = [site for root in roots for site in load_corpus(root)]
    if not sites:
        print(f"no corpus at {', '.join(map(str, roots))}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    ruleset = RuleSet.load()
    load_ms = (time.perf_counter() - start) * 1000
    print(f"rules: {len(ruleset.rules)} loaded and compiled in {load_ms:.0f} ms (cold, in this process)\n")
    matrix: Counter[tuple[str, str]] = Counter()
    by_language: dict[str, list[int]] = {}  # language -> [sites, exact, critical]
    critical = []
    with tempfile.TemporaryDirectory() as tmp:
        for site in sites:
            warc = site_to_warc(site, Path(tmp) / f"{site.host}.warc.gz")
            ctx = CheckContext(ruleset=ruleset, options=FetchOptions(), archive=ArchiveIndex(warc))
            report = check_site(site.url, ctx)
            got = report.verdict.value
            matrix[(site.label, got)] += 1
            row = by_language.setdefault(site.language, [0, 0, 0])
            row[0] += 1
            row[1] += got == site.label
            mark = "ok " if got == site.label else "ERR"
            if (site.label, got) in (("rogue", "legitimate"), ("legitimate", "rogue")):
                critical.append(f"{site.host}: {site.label} judged {got}")
                row[2] += 1
                mark = "CRIT"
            print(f"{mark:<4} {site.host:<38} {site.language:<3} label={site.label:<13} got={got:<13} score={report.score if report.score is not None else '-':>3}  {report.summary[:80]}")
            if verbose:
                for f in report.findings:
                    print(f"        {f.rule_id:<28} {f.weight:+g}  {f.evidence[0].text[:100] if f.evidence else ''}")
    print()
    print_matrix(matrix)
    exact = sum(v for (t, g), v in matrix.items() if t == g)
    total = sum(matrix.values())
    print(f"\nexact accuracy: {exact}/{total} = {exact / total:.1%}")
    print(f"critical errors: {len(critical)}" + "".join(f"\n  {c}" for c in critical))
    print("\nper language (of the site, from site.json)")
    for language, (n, ok, crit) in sorted(by_language.items(), key=lambda kv: (-kv[1][0], kv[0])):
        print(f"  {language:<4} sites {n:>3}  exact {ok:>3}/{n:<3} = {ok / n:6.1%}  critical {crit}")
    non_en = [v for k, v in by_language.items() if k != "en"]
    if non_en:
        n, ok, crit = (sum(v[i] for v in non_en) for i in range(3))
        print(f"  {'!en':<4} sites {n:>3}  exact {ok:>3}/{n:<3} = {ok / n:6.1%}  critical {crit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
