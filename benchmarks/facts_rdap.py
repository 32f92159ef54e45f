"""RDAP queries of a real audit: N sites on D registrable domains (default 1,000 on 50), each a
host of its own served by one local HTTP server (`--resolve`), asking one local RDAP server
(`--rdap-base`) that counts what it is asked. Prints the queries made (the issue asks for at
most one per registrable domain), then runs the same audit again into the same database and
prints the queries of the second run (answers kept in the audit store: none expected).

    python benchmarks/facts_rdap.py                  # 1,000 sites on 50 domains, 16 workers
    python benchmarks/facts_rdap.py --sites 200 --domains 20 --workers 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE.parent / "tests")]

from factkit import RdapServer, rdap_domain  # noqa: E402
from pharmcheck.cli import main  # noqa: E402
from sitekit import SiteServer  # noqa: E402

PAGE = (b"<html><head><title>Branch pharmacy</title></head><body><h1>Branch pharmacy</h1>"
        b"<p>Order your repeat prescription online.</p></body></html>")


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--domains", type=int, default=50)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    domains = [f"chain{d}.com" for d in range(args.domains)]
    with tempfile.TemporaryDirectory() as tmp, \
            RdapServer({d: rdap_domain(d, 30 + i) for i, d in enumerate(domains)}) as rdap, \
            SiteServer(Path(tmp), extra={"/": (200, {"Content-Type": "text/html"}, PAGE)}) as site:
        port = site.httpd.server_address[1]
        hosts = [f"branch{i}.{domains[i % args.domains]}" for i in range(args.sites)]
        listing = Path(tmp) / "sites.txt"
        listing.write_text("".join(f"http://{h}:{port}/\n" for h in hosts))
        argv = ["audit", str(listing), "--db", str(Path(tmp) / "audit.db"), "--allow-private", "--no-progress", "-q",
                "--max-pages", "1", "--ignore-robots", "--workers", str(args.workers), "--rdap-base", rdap.url,
                "-o", str(Path(tmp) / "out.jsonl"), *(a for h in hosts for a in ("--resolve", f"{h}:{port}:127.0.0.1"))]
        for run in (1, 2):
            before, started = rdap.total_hits, time.monotonic()
            code = main(argv)
            elapsed = time.monotonic() - started
            print(f"run {run}: {args.sites} sites on {args.domains} registrable domains: "
                  f"{rdap.total_hits - before} RDAP queries, exit {code}, {elapsed:.1f} s ({args.sites / elapsed:.1f} sites/s)")


if __name__ == "__main__":
    main_benchmark()
