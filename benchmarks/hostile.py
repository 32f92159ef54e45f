"""Check each hostile local site, capture and rules folder; print the wall time against the
deadline and the peak memory each cost.

    python benchmarks/hostile.py [--site-timeout 3] [--rules DIR] [--only live|offline]

Starts the hostile server of tests/hostile (127.0.0.1, random port) and runs each case in a
fresh child process, so the peak RSS of a case is its own (baseline: the `ok` case). Rules
and the language model are loaded before the clock starts (once per process in an audit).
The bounds to look for (issue 11): every case within its deadline + 2 s; the 1 GiB gzip bomb
or the endless body cost about --max-bytes, not what they would expand to; the replay of a
400 MB record under 300 MB RSS; the @list expansion bomb refused in under a second."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "hostile"))
sys.path.insert(0, str(HERE.parent / "tests"))

from hostile_server import HostileServer  # noqa: E402

PUBLIC = "93.184.216.34"

# name, path, robots mode, extra options, how the guard sees `localhost` (None: guard off)
CASES: list[tuple[str, str, str, dict[str, Any], str | None]] = [
    ("ok (baseline)", "/ok/", "allow", {}, None),
    ("slow drip, headers", "/drip-headers", "allow", {"timeout": 10.0}, None),
    ("slow drip, body", "/drip-body", "allow", {"timeout": 10.0}, None),
    ("never-ending body", "/endless", "allow", {}, None),
    ("gzip bomb 1 GiB", "/bomb", "allow", {}, None),
    ("redirect loop", "/loop/a", "allow", {}, None),
    ("redirect -> 127.0.0.1", "/redirect?to=http://127.0.0.1:{port}/ok/", "allow", {}, "public"),
    ("redirect -> 169.254.169.254", "/redirect?to=http://169.254.169.254/latest/meta-data/", "allow", {}, "public"),
    ("DNS rebinding", "/ok/", "allow", {}, "rebinding"),
    ("100k nested divs", "/nested", "allow", {}, None),
    ("100k links", "/many-links", "allow", {}, None),
    ("3 MB single line", "/huge-line", "allow", {}, None),
    ("binary as text/html", "/binary-html", "allow", {}, None),
    ("wrong charset", "/wrong-charset", "allow", {}, None),
    ("robots disallow-all", "/ok/", "disallow", {}, None),
    ("429 + Retry-After: 1", "/retry-429", "allow", {}, None),
    ("503 then 200", "/retry-503", "allow", {}, None),
    ("mixed site (all of it)", "/mixed/", "allow", {}, None),
]


def _warm_up(ruleset: Any) -> None:
    from pharmcheck.extract import extract_page
    from pharmcheck.models import Response

    url = "https://warm.example/"
    body = b"<html><head><title>Warm</title></head><body><p>A pharmacy page in plain English.</p></body></html>"
    extract_page(Response(url=url, final_url=url, status=200, content_type="text/html", body=body), ruleset.drug_index)


def offline_child(spec: dict[str, Any]) -> None:
    """One offline case (a replayed capture, or loading a rules folder) in this process."""
    from pharmcheck.check import CheckContext, check_site
    from pharmcheck.errors import PharmcheckError
    from pharmcheck.fetch import ArchiveIndex
    from pharmcheck.models import FetchOptions
    from pharmcheck.ruleset import RuleSet

    if spec["kind"] == "load":
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        try:
            RuleSet.load(spec["rules"])
            outcome = "loaded"
        except PharmcheckError as exc:
            outcome = "refused: " + str(exc).split(": ", 2)[-1][:60]
        wall = time.monotonic() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"wall": wall, "rss_mb": peak / 1024, "rss_growth_mb": (peak - before) / 1024,
                          "pages": 0, "bytes": 0, "verdict": outcome, "errors": []}))
        return
    ruleset = RuleSet.load(spec["rules"])
    _warm_up(ruleset)
    options = FetchOptions.model_validate(spec["options"])
    archive = ArchiveIndex(spec["replay"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    report = check_site(spec["url"], CheckContext(ruleset=ruleset, options=options, archive=archive))
    wall = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "wall": wall, "rss_mb": peak / 1024, "rss_growth_mb": (peak - before) / 1024,
        "verdict": report.verdict.value, "errors": sorted({e.code.value for e in report.errors}),
        "pages": len(report.pages), "bytes": sum(p.bytes for p in report.pages),
    }))


def build_offline_cases(work: Path, site_timeout: float, max_bytes: int) -> list[tuple[str, dict[str, Any], float | None]]:
    """(name, child spec, deadline) of the capture and rules-folder cases, built in `work`."""
    import shutil

    from hostile_pages import jsonld_blocks_page, word_soup_site
    from hostile_warc import write_huge_record_warc

    from pharmcheck.fetch.pagedir import write_warc
    from pharmcheck.rules.load import default_rules_dir

    options = {"site_timeout": site_timeout, "timeout": 1.0, "max_bytes": max_bytes}
    cases: list[tuple[str, dict[str, Any], float | None]] = []
    soup = "https://word-soup.example/"
    word_soup_site(work / "soup1.warc.gz", soup, 2_300_000)
    cases.append(("rule words, 2.3 MB page", {"kind": "replay", "url": soup, "replay": str(work / "soup1.warc.gz"),
                                              "options": {**options, "max_pages": 1}}, site_timeout))
    cases.append(("rule words, 10 such pages", {"kind": "replay", "url": soup, "replay": str(work / "soup1.warc.gz"),
                                                "options": {**options, "max_pages": 10}}, site_timeout))
    jsonld = "https://jsonld.example/"
    write_warc(work / "jsonld.warc.gz", [(jsonld, jsonld_blocks_page(30_000), "text/html")])
    cases.append(("30k JSON-LD blocks", {"kind": "replay", "url": jsonld, "replay": str(work / "jsonld.warc.gz"),
                                         "options": options}, site_timeout))
    huge = "https://huge-record.example/"
    write_huge_record_warc(work / "huge.warc.gz", huge, 400_000_000)
    cases.append(("replay: one 400 MB record", {"kind": "replay", "url": huge, "replay": str(work / "huge.warc.gz"),
                                                "options": options}, site_timeout))
    write_huge_record_warc(work / "bombrec.warc.gz", huge, 1 << 30, gzip_bomb=True)
    cases.append(("replay: 1 GiB gzip record", {"kind": "replay", "url": huge, "replay": str(work / "bombrec.warc.gz"),
                                                "options": options}, site_timeout))
    turkish = "https://backtrack.example/"
    evil_rules = work / "evil-rules"
    shutil.copytree(default_rules_dir(), evil_rules)
    (evil_rules / "evil.yaml").write_text(_EVIL_RULE, encoding="utf-8")
    run = "x" * 40
    page = (f"<html><head><title>İstanbul eczane</title></head><body><p>İlaç {run}</p>"
            f"<a href='https://other.example/{run}'>{run}</a></body></html>")
    write_warc(work / "turkish.warc.gz", [(turkish, page.encode(), "text/html; charset=utf-8")])
    cases.append(("İ + backtracking rule regex", {"kind": "replay", "url": turkish, "rules": str(evil_rules),
                                                  "replay": str(work / "turkish.warc.gz"), "options": options},
                  site_timeout))
    bomb_rules = work / "bomb-rules"
    shutil.copytree(default_rules_dir(), bomb_rules)
    lines = ["laugh0: [lol]"] + [f"laugh{i}: [{', '.join([chr(34) + f'@laugh{i - 1}' + chr(34)] * 10)}]"
                                 for i in range(1, 10)]
    (bomb_rules / "data" / "bomb.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (bomb_rules / "bomb.yaml").write_text(_EVIL_RULE.replace("SELL-BACKTRACK", "SELL-BOMB")
                                          .replace('text: {regex: ["(x+x+)+y"]}', 'text: {phrases: ["@laugh9"]}')
                                          .replace('link: {href: ["(x+x+)+y"]}', 'text: {phrases: ["@laugh9"]}'),
                                          encoding="utf-8")
    cases.append(("@list bomb (10^9 items)", {"kind": "load", "rules": str(bomb_rules)}, 1.0))
    return cases


_EVIL_RULE = """rules:
  - id: SELL-BACKTRACK
    criterion: seller
    name: Regexes that backtrack
    description: Nested quantifiers, exponential on a backtracking engine.
    severity: info
    weight: 1
    confidence: low
    message: backtracks
    match:
      any:
        - text: {regex: ["(x+x+)+y"]}
        - link: {href: ["(x+x+)+y"]}
    references: ["https://example.org/"]
    examples:
      match: ["xxy here", "xy there"]
      no_match: ["nothing here", "quiet page"]
"""


def child(spec: dict[str, Any]) -> None:
    """Run one check in this process and print what it cost as JSON."""
    if "kind" in spec:
        offline_child(spec)
        return
    from pharmcheck.check import CheckContext, check_site
    from pharmcheck.fetch import guard
    from pharmcheck.models import FetchOptions
    from pharmcheck.ruleset import RuleSet

    if spec["guard"] is not None:
        real_resolve, real_peer = guard.resolve, guard.check_peer
        guard.resolve = lambda host, port: [PUBLIC] if host == "localhost" else real_resolve(host, port)  # type: ignore[assignment]
        if spec["guard"] == "public":  # the public host really is 127.0.0.1 here: only redirects are tested
            guard.check_peer = lambda a: None if a == "127.0.0.1" else real_peer(a)  # type: ignore[assignment]
    ruleset = RuleSet.load(spec["rules"])
    _warm_up(ruleset)
    options = FetchOptions.model_validate(spec["options"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    report = check_site(spec["url"], CheckContext(ruleset=ruleset, options=options))
    wall = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "wall": wall, "rss_mb": peak / 1024, "rss_growth_mb": (peak - before) / 1024,
        "verdict": report.verdict.value, "errors": sorted({e.code.value for e in report.errors}),
        "pages": len(report.pages), "bytes": sum(p.bytes for p in report.pages),
    }))


def _run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any] | str:
    try:
        out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"KILLED after {timeout:g} s"
    if out.returncode != 0:
        return "FAILED: " + (out.stderr.strip().splitlines()[-1] if out.stderr.strip() else str(out.returncode))
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _row(name: str, r: dict[str, Any] | str, limit: float | None) -> str:
    if isinstance(r, str):
        return f"{name:<28} {r}"
    within = "" if limit is None else ("ok" if r["wall"] <= limit + 2 else "OVER")
    limit_text = "-" if limit is None else f"{limit:g}"
    return (f"{name:<28} {r['wall']:>6.2f} {limit_text:>5} {within:>4} {r['rss_mb']:>7.0f} {r['rss_growth_mb']:>5.0f} "
            f"{r['pages']:>5} {r['bytes']:>11,}  {r['verdict']:<13} {','.join(r['errors']) or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site-timeout", type=float, default=3.0)
    parser.add_argument("--max-bytes", type=int, default=3_000_000)
    parser.add_argument("--rules", default=None, help="rules directory (default: the project's)")
    parser.add_argument("--only", choices=["live", "offline"], help="only the live-server or the offline cases")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    header = (f"{'case':<28} {'wall s':>6} {'limit':>5} {'+2s?':>4} {'RSS MB':>7} {'+MB':>5} {'pages':>5} "
              f"{'bytes':>11}  {'verdict':<13} errors")
    kill_after = args.site_timeout * 10 + 30
    if args.only != "offline":
        server = HostileServer().start()
        print(f"hostile server {server.base}; site timeout {args.site_timeout:g} s, max bytes {args.max_bytes:,}\n")
        print(header)
        print("-" * len(header))
        try:
            for name, path, robots, extra, guard_mode in CASES:
                server.robots = robots
                host = "localhost" if guard_mode else "127.0.0.1"
                url = f"http://{host}:{server.port}" + path.format(port=server.port)
                options = {"site_timeout": args.site_timeout, "timeout": 1.0, "max_bytes": args.max_bytes,
                           "allow_private": guard_mode is None, "retries": 2, **extra}
                spec = {"url": url, "options": options, "guard": guard_mode, "rules": args.rules}
                print(_row(name, _run_child(spec, kill_after), args.site_timeout), flush=True)
        finally:
            server.stop()
    if args.only != "live":
        import tempfile

        with tempfile.TemporaryDirectory(prefix="pharmcheck-hostile-") as tmp:
            cases = build_offline_cases(Path(tmp), args.site_timeout, args.max_bytes)
            print(f"\noffline cases (captures replayed, rules folders loaded); site timeout {args.site_timeout:g} s\n")
            print(header)
            print("-" * len(header))
            for name, spec, limit in cases:
                spec.setdefault("rules", args.rules)
                print(_row(name, _run_child(spec, kill_after), limit), flush=True)


if __name__ == "__main__":
    main()
