"""Check each hostile local site and print the wall time and peak memory it cost.

    python benchmarks/hostile.py [--site-timeout 3] [--rules DIR]

Starts the hostile server of tests/hostile (127.0.0.1, random port) and runs each case in a
fresh child process, so the peak RSS of a case is its own (baseline: the `ok` case). The
bounds to look for: no case outlives --site-timeout by more than a moment, and the 1 GiB
gzip bomb or the endless body cost about --max-bytes, not what they would expand to."""

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


def child(spec: dict[str, Any]) -> None:
    """Run one check in this process and print what it cost as JSON."""
    from pharmcheck.check import CheckContext, check_site
    from pharmcheck.fetch import guard
    from pharmcheck.models import FetchOptions
    from pharmcheck.rules import load_rules

    if spec["guard"] is not None:
        real_resolve, real_peer = guard.resolve, guard.check_peer
        guard.resolve = lambda host, port: [PUBLIC] if host == "localhost" else real_resolve(host, port)  # type: ignore[assignment]
        if spec["guard"] == "public":  # the public host really is 127.0.0.1 here: only redirects are tested
            guard.check_peer = lambda a: None if a == "127.0.0.1" else real_peer(a)  # type: ignore[assignment]
    ruleset = load_rules(spec["rules"])
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site-timeout", type=float, default=3.0)
    parser.add_argument("--max-bytes", type=int, default=3_000_000)
    parser.add_argument("--rules", default=None, help="rules directory (default: the project's)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    server = HostileServer().start()
    print(f"hostile server {server.base}; site timeout {args.site_timeout:g} s, max bytes {args.max_bytes:,}\n")
    header = f"{'case':<28} {'wall s':>6} {'RSS MB':>7} {'+MB':>5} {'pages':>5} {'bytes':>9}  {'verdict':<13} errors"
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
            out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                                 capture_output=True, text=True, timeout=args.site_timeout * 10 + 30)
            if out.returncode != 0:
                print(f"{name:<28} FAILED: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
                continue
            r = json.loads(out.stdout)
            print(f"{name:<28} {r['wall']:>6.2f} {r['rss_mb']:>7.0f} {r['rss_growth_mb']:>5.0f} {r['pages']:>5} "
                  f"{r['bytes']:>9,}  {r['verdict']:<13} {','.join(r['errors']) or '-'}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
