"""Prove that two revisions write the same reports: the example captures and every site of a
labelled corpus, checked offline through the CLI in text, JSON and HTML, audited as a batch
(jsonl, csv, json, html; one worker, and 16: the default runner for many), the rule list and
rule tests, every --help and a few usage errors.

    python benchmarks/same_reports.py revs REV_A REV_B     # check out both, record, compare
    python benchmarks/same_reports.py record DIR           # reports of the code on PYTHONPATH
    python benchmarks/same_reports.py compare DIR_A DIR_B  # diff two recorded folders

`revs` exports each git revision (`git archive`) to a temporary folder and runs its own CLI
(`python -m pharmcheck` with that revision's src/ first on the path) against the same WARCs,
built once from the corpus (benchmarks/corpus.py). Only what differs by run is blanked before
comparing: check times and durations, audit run ids, file paths of the temporary folders.
Exit status: 0 same, 1 different, 2 usage error. Verdicts change legitimately between
revisions that change rules; this script says where, it does not freeze golden files.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.append(str(REPO / "src"))  # for the WARC writer, unless PYTHONPATH names another checkout

# Values that differ from one run to the next, whatever the code: blanked before comparing.
_VOLATILE = [
    (re.compile(r'("(?:checked_at|started_at|finished_at|started|finished|t)"\s*:\s*)"[^"]*"'), r'\1"<time>"'),
    (re.compile(r'("(?:duration|d|elapsed)"\s*:\s*)[0-9.eE+-]+'), r"\1<secs>"),
    (re.compile(r'("(?:run_id|run|id)"\s*:\s*)"?[0-9a-f-]{8,}"?'), r"\1<run>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?"), "<time>"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(?: UTC| [+-]\d\d:?\d\d)?"), "<time>"),
    (re.compile(r"<dd>[0-9.]+ s</dd>"), "<dd><secs> s</dd>"),
    (re.compile(r" in [0-9hms ]+ \([0-9.]+ sites/s\)"), " in <secs> (<rate> sites/s)"),
]


def normalise(text: str, tmp_roots: list[str]) -> str:
    for root in tmp_roots:
        text = text.replace(root, "<tmp>")
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def build_warcs(corpus: Path, out: Path) -> list[tuple[str, str, Path]]:
    """(name, url, warc) for the shipped examples and every corpus site."""
    from corpus import load_corpus, site_to_warc

    cases = [
        ("example-cheap-meds-24", "https://cheap-meds-24.example/", REPO / "examples" / "cheap-meds-24.warc.gz"),
        ("example-northbridge", "https://www.northbridge-pharmacy.example/", REPO / "examples" / "northbridge-pharmacy.warc.gz"),
    ]
    out.mkdir(parents=True, exist_ok=True)
    for site in load_corpus(corpus):
        cases.append((f"dev-{site.host}", site.url, site_to_warc(site, out / f"{site.host}.warc.gz")))
    return cases


def record(out: Path, cases: list[tuple[str, str, Path]], src: Path | None, tmp_roots: list[str]) -> None:
    """Write every report of the code at `src` (None: whatever `pharmcheck` imports here) to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    # Ties in the run report's charts are ordered by set iteration, which follows the string
    # hash seed: one fixed seed makes both revisions order them alike.
    env = dict(os.environ, PYTHONHASHSEED="0")
    if src is not None:
        env["PYTHONPATH"] = str(src)
    cwd = src.parent if src is not None else REPO

    def run(name: str, args: list[str]) -> None:
        done = subprocess.run([sys.executable, "-m", "pharmcheck", *args], capture_output=True, text=True, env=env, cwd=cwd)
        body = f"exit {done.returncode}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
        (out / name).write_text(normalise(body, tmp_roots), encoding="utf-8")
        print(f"  {name}: exit {done.returncode}", file=sys.stderr)

    run("rules-list.json", ["rules", "list", "--format", "json"])
    # The CLI itself: help texts, and one-line errors with their exit codes.
    for command in ([], ["check"], ["rules", "list"], ["rules", "test"], ["schema"], ["audit"], ["export"], ["report"],
                    ["db", "migrate"], ["db", "info"]):
        run("help-" + ("-".join(command) or "main") + ".txt", [*command, "--help"])
    run("error-check-bad-format.txt", ["check", "example.com", "--format", "nope"])
    run("error-check-bad-url.txt", ["check", "ftp://example.com/"])
    run("error-export-no-db.txt", ["export", "--db", "/nonexistent/pharmcheck.db"])
    run("error-audit-no-input.txt", ["audit", "/nonexistent/sites.txt"])
    run("error-no-command.txt", [])
    run("rules-test.txt", ["rules", "test"])
    for name, url, warc in cases:
        for fmt in ("text", "json", "html"):
            run(f"{name}.{fmt}", ["check", url, "--replay", str(warc), "--format", fmt])
    with tempfile.TemporaryDirectory() as tmp:
        urls = Path(tmp) / "sites.txt"
        urls.write_text("".join(f"{url}\n" for _, url, _ in cases), encoding="utf-8")
        replay = Path(tmp) / "warcs"
        replay.mkdir()
        for _, _, warc in cases:
            (replay / warc.name).symlink_to(warc)
        db = str(Path(tmp) / "audit.db")
        tmp_roots.append(tmp)
        run("audit.jsonl", ["audit", str(urls), "--db", db, "--replay", str(replay), "--workers", "1", "--no-progress"])
        for fmt in ("jsonl", "csv", "json", "html"):
            run(f"export.{fmt}", ["export", "--db", db, "--format", fmt])
        run("report.html", ["report", "--db", db])
        # The same sites 16 at a time: the default runner for that (the pool on 2-4 cores,
        # worker processes elsewhere), exported in input order.
        many = str(Path(tmp) / "audit-16.db")
        run("audit-16-workers.txt", ["audit", str(urls), "--db", many, "--replay", str(replay), "--workers", "16",
                                     "--no-progress", "-o", os.devnull])
        run("export-16-workers.jsonl", ["export", "--db", many, "--format", "jsonl"])
        tmp_roots.remove(tmp)


def compare(a: Path, b: Path) -> int:
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    differing = 0
    for name in names:
        left = (a / name).read_text(encoding="utf-8").splitlines(keepends=True) if (a / name).exists() else []
        right = (b / name).read_text(encoding="utf-8").splitlines(keepends=True) if (b / name).exists() else []
        if left != right:
            differing += 1
            sys.stdout.writelines(difflib.unified_diff(left, right, f"{a.name}/{name}", f"{b.name}/{name}", n=1))
    print(f"{len(names) - differing} of {len(names)} outputs identical, {differing} differ")
    return 1 if differing else 0


def default_corpus() -> Path:
    """../shared/corpus/dev beside the checkout, or beside any folder above it (worktrees sit deeper)."""
    for parent in REPO.parents:
        candidate = parent / "shared" / "corpus" / "dev"
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "corpus" / "dev"


def export_revision(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=default_corpus(), help="labelled corpus folder (default: shared/corpus/dev)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_rec = sub.add_parser("record")
    p_rec.add_argument("out", type=Path)
    p_cmp = sub.add_parser("compare")
    p_cmp.add_argument("a", type=Path)
    p_cmp.add_argument("b", type=Path)
    p_revs = sub.add_parser("revs")
    p_revs.add_argument("rev_a")
    p_revs.add_argument("rev_b")
    p_revs.add_argument("--keep", type=Path, help="keep the recorded reports in this folder")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    if args.command == "compare":
        return compare(args.a, args.b)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cases = build_warcs(args.corpus, work / "warcs")
        roots = [tmp]
        if args.command == "record":
            record(args.out, cases, None, roots)
            return 0
        keep = args.keep or work / "reports"
        outs = []
        for label, rev in (("a", args.rev_a), ("b", args.rev_b)):
            print(f"{rev}:", file=sys.stderr)
            checkout = work / f"rev-{label}"
            checkout.mkdir()
            src = export_revision(rev, checkout)
            outs.append(keep / f"{label}-{re.sub(r'[^A-Za-z0-9._-]', '_', rev)}")
            record(outs[-1], cases, src, [*roots, str(checkout)])
        return compare(outs[0], outs[1])


if __name__ == "__main__":
    sys.exit(main())
