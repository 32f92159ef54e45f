"""Rendered vs plain pages per second, and memory per worker process with a browser.

Two made-up local sites: a script-built shop (tests/render_sites.py: every page an empty
shell whose catalogue is injected by JavaScript) and a plain HTML pharmacy (examples/sites/).
Each is checked `--repeat` times with each mode, by `--workers` threads of this process
(one browser for all of them, a fresh context per site, as in an audit worker process):

    plain        no browser
    auto         --render auto (only the shop's pages need the browser)
    render       --render
    render+shots --render --screenshots

The machine's load matters (a shared box gives lower figures): compare modes within one run.

Memory: this process plus its Chromium processes, as PSS (shared pages counted once across
them), sampled while the checks run; the peak is what one audit worker process costs.

    python benchmarks/render.py
    python benchmarks/render.py --repeat 10 --workers 4
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from pharmcheck.check import CheckContext, check_site  # noqa: E402
from pharmcheck.fetch.render import chromium_path  # noqa: E402
from pharmcheck.models import FetchOptions, Report  # noqa: E402
from pharmcheck.ruleset import RuleSet  # noqa: E402
from render_sites import RenderSiteServer  # noqa: E402
from sitekit import NORTHBRIDGE, SiteServer  # noqa: E402

MODES = {
    "plain": {"render": "off"},
    "auto": {"render": "auto"},
    "render": {"render": "on"},
    "render+shots": {"render": "on", "screenshots": True},
}


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree_pss_mb() -> float:
    """PSS of this process and all its descendants (the browser and its renderers), in MB."""
    todo, total = [os.getpid()], 0
    while todo:
        pid = todo.pop()
        total += _pss_kb(pid)
        todo.extend(_children(pid))
    return total / 1024


class PeakSampler:
    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, process_tree_pss_mb())
            self._stop.wait(0.25)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, process_tree_pss_mb())


def run_mode(name: str, urls: list[str], repeat: int, workers: int, max_pages: int) -> tuple[float, int, int, float]:
    options = FetchOptions(allow_private=True, max_pages=max_pages, timeout=5.0, **MODES[name])  # type: ignore[arg-type]
    ctx = CheckContext(ruleset=RuleSet.load(), options=options)
    jobs = [u for _ in range(repeat) for u in urls]
    with PeakSampler() as mem, ThreadPoolExecutor(workers) as pool:
        started = time.monotonic()
        reports: list[Report] = list(pool.map(lambda u: check_site(u, ctx), jobs))
        took = time.monotonic() - started
    pages = sum(len(r.pages) for r in reports)
    rendered = sum(1 for r in reports for p in r.pages if p.rendered)
    return took, pages, rendered, mem.peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="checks of each site per mode (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="sites checked at once (default 2)")
    parser.add_argument("--max-pages", type=int, default=5)
    args = parser.parse_args()
    if chromium_path() is None:
        print("no Chromium: install it (Debian: apt-get install chromium) or set PHARMCHECK_CHROMIUM", file=sys.stderr)
        return 2
    with RenderSiteServer() as shop, SiteServer(NORTHBRIDGE) as static:
        urls = [shop.url, static.url]
        run_mode("plain", urls, 1, 1, 1)  # load the rules' data and language model before timing
        print(f"{len(urls)} sites (script-built shop, plain HTML pharmacy) x {args.repeat}, "
              f"{args.workers} worker threads, up to {args.max_pages} pages per site; one browser per process")
        print(f"{'mode':<13} {'pages':>6} {'rendered':>8} {'seconds':>8} {'pages/s':>8} {'peak MB (PSS, process + browser)':>34}")
        for name in MODES:
            if name == "auto":  # plain ran with no browser; start it before timing the others
                run_mode("render", urls[:1], 1, 1, 1)
            took, pages, rendered, peak = run_mode(name, urls, args.repeat, args.workers, args.max_pages)
            print(f"{name:<13} {pages:>6} {rendered:>8} {took:>8.2f} {pages / took:>8.1f} {peak:>34.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
