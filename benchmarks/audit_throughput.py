"""Audit throughput against a local "internet" of synthetic pharmacy sites.

One asyncio server (its own process) hosts N made-up sites, each on its own loopback address
(127.0.1.1, 127.0.1.2, ...; all of 127.0.0.0/8 is local on Linux), each with 5 pages of
realistic size (30-150 KB of HTML: navigation, inline CSS/JS, product listings) and a fixed
delay before every response (default 200 ms), like a distant server. `pharmcheck audit` runs
in a subprocess against them with --allow-private; we report sites/s, pages/s, the ratio of
requests/s to the network ideal (--workers / delay: every network slot always holding a
request), and the audit process's peak RSS from wait4().

    python benchmarks/audit_throughput.py                    # 200 and 2000 sites, 32 workers
    python benchmarks/audit_throughput.py --sizes 200 --delay 0.1 --workers 64
    python benchmarks/audit_throughput.py --runner dask     # threads vs a Dask LocalCluster of 1, 2, 4 workers
    python benchmarks/audit_throughput.py --sizes 200 --delay 0.05 --workers 64 --bare   # and the fetch-only floor

With `--bare`, each size is also fetched by a bare client (asyncio streams, HTTP/1.1 keep-alive,
one connection per site, robots.txt and every page of each site, nothing parsed) with the
same --workers requests in flight (one per site it has open, and it never stops to analyse
a page, so N sites keep N requests on the network): the requests/s a fetch-only client gets
from the same server, and the audit's requests/s as a fraction of it.

With `--phases`, the audit runs in this process instead (threads, one process: every phase
is visible) and the CPU each site spends is split by phase, measured per thread: fetching
(requests/urllib3, the SSRF guard, robots.txt), page extraction, the crawl frontier, site
facts, judging (rules, score, verdict), storing/output/progress, and the rest (start-up,
rules, networks at the end, thread hand-offs). `--workers 1` gives the figures without
threads competing for the GIL. The lxml parse alone of one site's pages is printed beside
them: the floor the parser sets, which no analysis in Python goes below. So is the use of the
network slots (the --workers requests in flight): how much of the run they are held, before
the first request and after the last, and how long a request holds one against the server's
delay; what keeps an audit under workers/latency shows there (mid-run the slots stay full).

The CPU a site costs depends on how busy the machine is, not only on the code: a process that
waits between responses (1 worker, 50 ms each) spends ~30-50% more CPU on the same work than
one kept busy (measured on a 2-core VM: extracting the five pages 18-19 ms in a tight loop,
22-23 ms with 10 ms pauses, 25-26 ms in a 1-worker audit; fetching a site 5.4 ms with no
delay, 8.1 ms with 50 ms per response). Compare figures taken at the same delay and workers.

    python benchmarks/audit_throughput.py --phases --sizes 200 --delay 0.05 --workers 32
    python benchmarks/audit_throughput.py --phases --sizes 200 -- --runner pool --processes 2

With `--runner pool`, the phases are those of the fetching process, and the analysis
processes are measured too: their CPU, how idle they are, each call's round trip split into
the work and the queue and hand-offs around it, and what crosses the process boundary (KB
and pickling CPU on each side).

With `--runner dask`, each size is audited by the thread runner (`--processes 1`) and by
`--runner dask` with 1, 2 and 4 local worker processes, side by side: sites/s and CPU per site
(the audit process and its children: the LocalCluster's nanny and worker processes). A 1-site
run of each configuration measures the fixed start-up cost (cluster start, rules loaded on each
worker), so the per-site figures can be read without it.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import collections
import contextlib
import functools
import json
import multiprocessing as mp
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

DRUGS = ["amoxicillin", "atorvastatin", "metformin", "lisinopril", "omeprazole", "sertraline", "losartan",
         "levothyroxine", "amlodipine", "simvastatin", "ibuprofen", "cetirizine", "loratadine", "azithromycin",
         "prednisone", "gabapentin", "fluoxetine", "tramadol", "sildenafil", "tadalafil"]
NAV = ('<nav><a href="/">Home</a> <a href="/about-us">About us</a> <a href="/contact">Contact</a> '
       '<a href="/faq">FAQ</a> <a href="/products/amoxicillin-500mg">Amoxicillin 500 mg</a></nav>')
STYLE = "<style>" + "".join(f".c{i}{{margin:{i}px;padding:{i % 7}px;color:#{i % 255:02x}{i % 200:02x}aa}}\n"
                            for i in range(400)) + "</style>"
SCRIPT = "<script>" + "".join(f"var tracker{i}=function(a,b){{return a*{i}+b;}};\n" for i in range(300)) + "</script>"


def _paragraphs(topic: str, count: int) -> str:
    # Made-up copy, long enough to give pages a realistic amount of text to scan.
    sentence = (f"Our {topic} team answers questions about orders, delivery times and the medicines we stock. "
                "Orders placed before noon are dispatched the same working day from our dispensary. ")
    return "".join(f"<p class=c{i % 400}>{sentence * 3}</p>\n" for i in range(count))


def _page(title: str, body: str) -> bytes:
    html = (f"<!doctype html><html><head><meta charset=utf-8><title>{title} | Riverside Chemist</title>"
            f"{STYLE}{SCRIPT}</head><body><header>{NAV}</header><main><h1>{title}</h1>{body}</main>"
            f"<footer>{NAV}<p>Riverside Chemist Ltd, 12 Mill Lane, Exampletown. Registered pharmacy no. 1234567. "
            "Superintendent pharmacist: A. Example. Prescription medicines are supplied only against a valid "
            "prescription.</p></footer></body></html>")
    return html.encode()


def _listing(count: int) -> str:
    cards = []
    for i in range(count):
        drug = DRUGS[i % len(DRUGS)]
        cards.append(f'<div class="card c{i % 400}"><a href="/products/amoxicillin-500mg"><img src="/img/{drug}.jpg" '
                     f'alt="{drug.title()} {i} mg tablets"></a><h3>{drug.title()} {10 + i % 90} mg, 28 tablets</h3>'
                     f'<span class=price>£{4 + i % 30}.{i % 100:02d}</span><p>Prescription only. Pack of 28.</p>'
                     f'<button>Request with prescription</button></div>\n')
    return '<section class="listing">' + "".join(cards) + "</section>"


PAGES: dict[str, bytes] = {
    "/": _page("Online pharmacy", _listing(300) + _paragraphs("pharmacy", 20)),  # ~150 KB
    "/about-us": _page("About us", _paragraphs("about", 40)),
    "/contact": _page("Contact", _paragraphs("customer care", 30) + "<p>Phone 01632 960000, care@riverside.example</p>"),
    "/faq": _page("Frequently asked questions", _paragraphs("pharmacist", 60)),
    "/products/amoxicillin-500mg": _page("Amoxicillin 500 mg", _listing(120) + _paragraphs("product", 20)),
}
NOT_FOUND = b"<html><body>Not found</body></html>"


def site_address(i: int) -> str:
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


def _respond(path: str) -> tuple[int, bytes]:
    body = PAGES.get(path.rstrip("/") or "/")
    return (200, body) if body is not None else (404, NOT_FOUND)


def serve(n_sites: int, port: int, delay: float, requests: Synchronized, ready: mp.Event) -> None:  # type: ignore[type-arg]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode("latin-1")
                await asyncio.sleep(delay)
                status, body = _respond(path)
                writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                             f"Content-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                             "Connection: keep-alive\r\n\r\n".encode() + body)
                await writer.drain()
                with requests.get_lock():
                    requests.value += 1
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        hosts = [site_address(i) for i in range(n_sites)]
        server = await asyncio.start_server(handle, host=hosts, port=port, backlog=256)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((site_address(0), 0))
        return int(s.getsockname()[1])


def _start_server(n_sites: int, delay: float) -> tuple[mp.Process, int, Synchronized]:  # type: ignore[type-arg]
    """The sites' server in its own process, ready; with its port and request counter."""
    port = _free_port()
    requests: Synchronized = mp.Value("q", 0)  # type: ignore[type-arg]
    ready = mp.Event()
    server = mp.Process(target=serve, args=(n_sites, port, delay, requests, ready), daemon=True)
    server.start()
    if not ready.wait(60):
        raise SystemExit("server did not start")
    return server, port, requests


def _tree_memory(pid: int) -> tuple[int, int]:
    """(resident, proportional) KB of a process and its children, from /proc (Linux). RSS
    counts a page shared by forked workers once in each; PSS splits it between them."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                child_rss, child_pss = _tree_memory(int(child))
                rss, pss = rss + child_rss, pss + child_pss
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return rss, pss


def run_size(n_sites: int, workers: int, delay: float, extra: list[str]) -> dict[str, float]:
    server, port, requests = _start_server(n_sites, delay)
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "sites.txt"
        listing.write_text("".join(f"http://{site_address(i)}:{port}/\n" for i in range(n_sites)))
        db = Path(tmp) / "audit.db"
        cmd = [sys.executable, "-m", "pharmcheck", "audit", str(listing), "--db", str(db), "--allow-private",
               "--workers", str(workers), "--no-progress", "-o", os.devnull, *extra]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        peak_total = peak_pss = 0
        stop_sampling = threading.Event()

        def sample() -> None:
            # ru_maxrss is per process; with worker processes, the total is what a machine feels.
            nonlocal peak_total, peak_pss
            while not stop_sampling.wait(0.25):
                rss, pss = _tree_memory(proc.pid)
                peak_total, peak_pss = max(peak_total, rss), max(peak_pss, pss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stderr = proc.stderr.read()
        stop_sampling.set()
        sampler.join()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        served = requests.value
        server.terminate()
        server.join()
        if proc.returncode != 0:
            raise SystemExit(f"audit failed ({proc.returncode}):\n{stderr}")
        with sqlite3.connect(db) as conn:
            stored, pages = conn.execute(
                "SELECT count(*), coalesce(sum(json_array_length(report, '$.pages')), 0) FROM sites").fetchone()
            verdicts = dict(conn.execute("SELECT verdict, count(*) FROM sites GROUP BY verdict").fetchall())
    ideal = workers / delay  # requests/s when every worker always has one request waiting
    return {
        "sites": stored, "seconds": elapsed, "sites_per_s": stored / elapsed, "pages_per_s": pages / elapsed,
        "requests_per_s": served / elapsed, "ideal": ideal, "ratio": served / elapsed / ideal,
        "rss_mb": usage.ru_maxrss / 1024, "total_rss_mb": peak_total / 1024, "total_pss_mb": peak_pss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "verdicts": verdicts,  # type: ignore[dict-item]
    }


def bare_fetch(n_sites: int, workers: int, delay: float) -> dict[str, float]:
    """Fetch robots.txt and every page of every site with a bare asyncio client, `workers`
    sites at a time: the requests/s of a client that only fetches (the audit's floor)."""
    server, port, _served = _start_server(n_sites, delay)
    paths = ["/robots.txt", *PAGES]

    async def one_site(host: str) -> int:
        reader, writer = await asyncio.open_connection(host, port)
        got = 0
        try:
            for path in paths:
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: bare\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                got += 1
        finally:
            writer.close()
        return got

    async def main() -> tuple[int, float]:
        gate = asyncio.Semaphore(workers)  # N sites at a time = N requests in flight (no pauses)

        async def gated(i: int) -> int:
            async with gate:
                return await one_site(site_address(i))

        started = time.monotonic()
        counts = await asyncio.gather(*(gated(i) for i in range(n_sites)))
        return sum(counts), time.monotonic() - started

    before = resource.getrusage(resource.RUSAGE_SELF)
    fetched, elapsed = asyncio.run(main())
    after = resource.getrusage(resource.RUSAGE_SELF)
    server.terminate()
    server.join()
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"requests": fetched, "seconds": elapsed, "requests_per_s": fetched / elapsed, "cpu_s": cpu}


class _PhaseClock:
    """Thread CPU time spent inside wrapped functions, by phase; a phase called from inside
    another wrapped one (robots.txt, fetched by the first page's fetch) is counted apart and
    also stays in its caller's."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self._depth = threading.local()

    def wrap(self, owner: object, name: str, phase: str, nested: bool = False) -> None:
        work = getattr(owner, name)

        @functools.wraps(work)
        def timed(*args: object, **kwargs: object) -> object:
            depth = getattr(self._depth, "n", 0)
            self._depth.n = depth + 1
            started = time.thread_time()
            try:
                return work(*args, **kwargs)
            finally:
                self._depth.n = depth
                if depth == 0 or nested:
                    self.seconds[phase] += time.thread_time() - started
                    self.calls[phase] += 1

        setattr(owner, name, timed)


def profile_phases(n_sites: int, workers: int, delay: float, extra: list[str]) -> None:
    """Audit in this process, with the CPU of each phase measured on the thread that runs it."""
    server, port, requests = _start_server(n_sites, delay)
    import pharmcheck.audit.session as session
    import pharmcheck.check as check
    import pharmcheck.fetch.render as render
    import pharmcheck.fetch.site as site
    from pharmcheck.cli import main as cli_main

    clock = _PhaseClock()
    clock.wrap(site.SiteFetcher, "get", "fetch (client, guard, robots.txt)")
    clock.wrap(site.SiteFetcher, "robots", "  of which robots.txt", nested=True)
    clock.wrap(render.PageReader, "read", "page extraction")
    clock.wrap(check.CrawlFrontier, "add_links", "crawl frontier")
    clock.wrap(check, "collect_facts", "site facts")
    clock.wrap(check, "make_transport", "transport setup")
    clock.wrap(check, "assess", "judging (rules, score, verdict)")
    clock.wrap(session.AuditRecorder, "site_done", "store, output, progress")
    pool = _PoolClock() if "pool" in extra else None  # `-- --runner pool`: both sides of the boundary
    slots = _SlotClock()
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "sites.txt"
        listing.write_text("".join(f"http://{site_address(i)}:{port}/\n" for i in range(n_sites)))
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        code = cli_main(["audit", str(listing), "--db", str(Path(tmp) / "audit.db"), "--allow-private",
                         "--workers", str(workers), "--processes", "1", "--no-progress", "-q", "-o", os.devnull,
                         *extra])
        elapsed = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    server.terminate()
    server.join()
    if code != 0:
        raise SystemExit(f"audit failed ({code})")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    where = "fetching in this process" if pool else "in one process"
    print(f"{n_sites} sites, {workers} workers {where}: {elapsed:.1f} s, {requests.value / elapsed:.0f} req/s "
          f"= {requests.value / elapsed / (workers / delay) if delay else 0:.0%} of ideal, "
          f"CPU {cpu / n_sites * 1000:.1f} ms/site; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    counted = 0.0
    for phase, seconds in sorted(clock.seconds.items(), key=lambda kv: -kv[1]):
        if not phase.startswith(" "):
            counted += seconds
        print(f"  {phase:<36} {seconds / n_sites * 1000:7.2f} ms/site  ({clock.calls[phase]} calls)")
    print(f"  {'rest (start-up, rules, networks...)':<36} {(cpu - counted) / n_sites * 1000:7.2f} ms/site")
    parse_ms = _site_parse_ms()
    # With the pool, pages are extracted in the analysis processes: this process's phases are not multiples of it.
    multiples = "" if pool else (
        f" (extraction is {clock.seconds['page extraction'] / n_sites * 1000 / parse_ms:.1f}x it, "
        f"the whole site {cpu / n_sites * 1000 / parse_ms:.1f}x)")
    print(f"  floor: the lxml parse alone of a site's {len(PAGES)} pages {parse_ms:.2f} ms{multiples}")
    slots.report(started, started + elapsed, workers, delay)
    if pool is not None:
        pool.report(n_sites)


class _SlotClock:
    """When each request held its network slot (HostLimiter.on_the_network, the --workers
    slots): how much of a run the slots are busy, and where the rest goes (before the
    first request, after the last, each request's time beyond the server's delay)."""

    def __init__(self) -> None:
        from pharmcheck.fetch.live import HostLimiter

        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        held = HostLimiter.on_the_network
        clock = self

        @contextlib.contextmanager
        def timed(limiter: HostLimiter, deadline: Any) -> Iterator[None]:
            with held(limiter, deadline):
                taken = time.monotonic()
                try:
                    yield
                finally:
                    ended = time.monotonic()
                    with clock._lock:
                        clock.spans.append((taken, ended))

        HostLimiter.on_the_network = timed  # type: ignore[method-assign, assignment]

    def report(self, started: float, ended: float, workers: int, delay: float) -> None:
        if not self.spans:
            return
        held = sum(b - a for a, b in self.spans)
        first = min(a for a, _ in self.spans)
        last = max(b for _, b in self.spans)
        print(f"  network slots held {held / ((ended - started) * workers):.0%} of the run, "
              f"{held / ((last - first) * workers):.0%} from the first request to the last; "
              f"{first - started:.2f} s before the first, {ended - last:.2f} s after the last; "
              f"a request holds its slot {held / len(self.spans) * 1000:.1f} ms (the delay: {delay * 1000:g} ms)")


def _site_parse_ms(runs: int = 40) -> float:
    """Median CPU, in ms, of lxml parsing the pages of one site, measured as
    benchmarks/analysis.py measures its "lxml parse only" (the parse the targets are stated
    against)."""
    from lxml import html as lxml_html

    from analysis import measure

    return statistics.median(measure(lambda: [lxml_html.document_fromstring(body) for body in PAGES.values()], runs))


class _PoolClock:
    """What `--runner pool` costs around the analysis itself, measured on both sides of the
    process boundary: in the audit, each call's round trip (send to answer) and the pickling
    of what crosses (CPU, bytes); in each analysis process (forked from here, so the wrappers
    are inherited), the wall and CPU time of the work itself, the time idle waiting for a
    request and blocked sending an answer. Round trip minus the work is the queue and the
    hand-offs (pipe, reader thread, the waiting thread woken)."""

    def __init__(self) -> None:
        import pharmcheck.audit.analysis as analysis

        self.folder = Path(tempfile.mkdtemp(prefix="pool-clock-"))
        self.round_trip: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self.pickling = collections.Counter[str]()  # "cpu", "bytes" (this side)
        self._lock = threading.Lock()
        clock = self
        real_pickle = analysis.pickle

        class _CountingPickle:
            HIGHEST_PROTOCOL = real_pickle.HIGHEST_PROTOCOL

            @staticmethod
            def dumps(obj: object, protocol: int | None = None) -> bytes:
                started = time.thread_time()
                data = real_pickle.dumps(obj, protocol=protocol)
                with clock._lock:
                    clock.pickling["cpu"] += time.thread_time() - started
                    clock.pickling["bytes"] += len(data)
                return data

            @staticmethod
            def loads(data: bytes) -> object:
                started = time.thread_time()
                obj = real_pickle.loads(data)
                with clock._lock:
                    clock.pickling["cpu"] += time.thread_time() - started
                    clock.pickling["bytes"] += len(data)
                return obj

        analysis.pickle = _CountingPickle  # type: ignore[assignment]
        call = analysis._Process.call

        def timed_call(process: object, operation: str, site: int, payload: object) -> object:
            started = time.perf_counter()
            try:
                return call(process, operation, site, payload)  # type: ignore[arg-type]
            finally:
                with clock._lock:
                    clock.round_trip[operation] += time.perf_counter() - started
                    clock.calls[operation] += 1

        analysis._Process.call = timed_call  # type: ignore[assignment,method-assign]
        work: collections.Counter[str] = collections.Counter()  # in a child: a copy of its own
        for name, operation in (("extract_page", "extract"), ("assess", "assess")):
            real = getattr(analysis, name)

            def timed(*args: object, _real: object = real, _op: str = operation, **kwargs: object) -> object:
                started, cpu = time.perf_counter(), time.thread_time()
                try:
                    return _real(*args, **kwargs)  # type: ignore[operator]
                finally:
                    work[_op + " wall"] += time.perf_counter() - started
                    work[_op + " cpu"] += time.thread_time() - cpu

            setattr(analysis, name, timed)
        serve = analysis._serve

        class _WatchedPipe:
            def __init__(self, conn: object) -> None:
                self.conn = conn

            def recv_bytes(self) -> bytes:
                started = time.perf_counter()
                try:
                    return self.conn.recv_bytes()  # type: ignore[attr-defined,no-any-return]
                finally:
                    work["idle"] += time.perf_counter() - started

            def send_bytes(self, data: bytes) -> None:
                started = time.perf_counter()
                self.conn.send_bytes(data)  # type: ignore[attr-defined]
                work["blocked sending"] += time.perf_counter() - started

        def watched_serve(conn: object, *args: object) -> None:
            started, cpu = time.perf_counter(), time.process_time()
            try:
                serve(_WatchedPipe(conn), *args)  # type: ignore[arg-type]
            finally:
                work["alive"] += time.perf_counter() - started
                work["process cpu"] += time.process_time() - cpu
                work.update({"pickle " + k: v for k, v in clock.pickling.items()})
                (clock.folder / f"{os.getpid()}.json").write_text(json.dumps(dict(work)))

        analysis._serve = watched_serve  # type: ignore[assignment]

    def report(self, n_sites: int) -> None:
        children = [json.loads(f.read_text()) for f in sorted(self.folder.glob("*.json"))]
        shutil.rmtree(self.folder, ignore_errors=True)
        total: collections.Counter[str] = collections.Counter()
        for child in children:
            total.update(child)
        print(f"  analysis processes: {len(children)}, CPU {total['process cpu'] / n_sites * 1000:.2f} ms/site in all; "
              f"each idle {total['idle'] / max(total['alive'], 1e-9):.0%} of its life, "
              f"answers waiting to be read {total['blocked sending'] / n_sites * 1000:.2f} ms/site")
        for operation in ("extract", "assess"):
            calls = self.calls[operation] or 1
            work_wall, work_cpu = total[operation + " wall"] / calls, total[operation + " cpu"] / calls
            trip = self.round_trip[operation] / calls
            print(f"  {operation:<8} round trip {trip * 1000:6.1f} ms = work {work_wall * 1000:5.1f} ms "
                  f"(CPU {work_cpu * 1000:4.1f}) + queue and hand-offs {(trip - work_wall) * 1000:5.1f} ms  "
                  f"({self.calls[operation]} calls)")
        print(f"  crossing the boundary: {self.pickling['bytes'] / n_sites / 1000:.0f} KB/site; pickling "
              f"{self.pickling['cpu'] / n_sites * 1000:.2f} ms/site in the audit, "
              f"{total['pickle cpu'] / n_sites * 1000:.2f} ms/site in the analysis processes")


DASK_WORKERS = (1, 2, 4)


def compare_runners(sizes: list[int], workers: int, delay: float, extra: list[str]) -> None:
    """Thread runner vs Dask LocalClusters, one table per size. Each configuration also audits
    one site alone: its wall and CPU time are the fixed cost (process and cluster start, rules
    loaded per worker), and what the big run costs beyond it, per extra site, is the marginal
    cost a site adds, which is where the Dask overhead per site shows."""
    configs = [("threads", ["--processes", "1"])] + [
        (f"dask, {n} worker{'s' if n > 1 else ''}", ["--runner", "dask", "--processes", str(n)]) for n in DASK_WORKERS]
    run_size(1, workers, delay, extra)  # fills the bytecode cache: not a cost of a run
    fixed = {label: run_size(1, workers, delay, [*args, *extra]) for label, args in configs}
    for n in sizes:
        print(f"{n} sites, {workers} in flight, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs:")
        print(f"  {'runner':<16} {'wall s':>7} {'sites/s':>8} {'fixed s':>8} {'sites/s beyond fixed':>21} "
              f"{'CPU ms/site':>12} {'marginal CPU ms/site':>21} {'peak RSS MB':>12}")
        for label, args in configs:
            r = run_size(n, workers, delay, [*args, *extra])
            f = fixed[label]
            beyond = (r["sites"] - 1) / max(r["seconds"] - f["seconds"], 1e-9)
            marginal = (r["cpu_s"] - f["cpu_s"]) / max(r["sites"] - 1, 1) * 1000
            print(f"  {label:<16} {r['seconds']:7.1f} {r['sites_per_s']:8.1f} {f['seconds']:8.1f} {beyond:21.1f} "
                  f"{r['cpu_s'] / r['sites'] * 1000:12.0f} {marginal:21.0f} {r['total_rss_mb']:12.0f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=None,
                    help="numbers of sites (default 200 and 2000; 200 with --runner dask)")
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.2, help="seconds before each response (default 0.2)")
    ap.add_argument("--runner", choices=["local", "dask"], default="local",
                    help="dask: compare the thread runner with Dask LocalClusters of 1, 2 and 4 workers")
    ap.add_argument("--bare", action="store_true",
                    help="also fetch the same sites with a bare asyncio client and print the audit's share of its req/s")
    ap.add_argument("--phases", action="store_true",
                    help="audit in this process and split the CPU per site by phase (fetch, extraction, judging...)")
    ap.add_argument("audit_args", nargs="*", help="extra arguments for `pharmcheck audit` (after --)")
    args = ap.parse_args()
    # The audits write their bytecode to a folder of ours even where PYTHONDONTWRITEBYTECODE is
    # set, as an installed package has its modules compiled at install: else every run's fixed
    # cost includes compiling every pharmcheck module (~0.15-0.3 s). The 1-site run warms it.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    pycache = os.environ["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="audit-throughput-pycache-")
    atexit.register(shutil.rmtree, pycache, ignore_errors=True)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one listening socket per site
    sizes = {k: len(v) for k, v in PAGES.items()}
    print(f"pages per site: {len(PAGES)} ({', '.join(f'{k} {v // 1000} KB' for k, v in sizes.items())}) + robots.txt")
    ideal = f"ideal {args.workers / args.delay:g} req/s" if args.delay > 0 else "no network ideal (no delay)"
    print(f"{args.workers} workers, {args.delay * 1000:g} ms per response, {ideal}, {os.cpu_count()} CPUs")
    if args.phases:
        for n in args.sizes or [200]:
            profile_phases(n, args.workers, args.delay, args.audit_args)
        return
    if args.runner == "dask":
        compare_runners(args.sizes or [200], args.workers, args.delay, args.audit_args)
        return
    args.sizes = args.sizes or [200, 2000]
    results = {}
    # One site alone: the fixed cost of a run (start-up, rules, the networks at the end), so
    # the CPU a site adds can be read without it.
    run_size(1, args.workers, args.delay, args.audit_args)  # fills the bytecode cache: not a cost of a run
    fixed = run_size(1, args.workers, args.delay, args.audit_args)
    print(f"     1 site:  {fixed['seconds']:6.1f} s  CPU {fixed['cpu_s']:.2f} s (the fixed cost of a run)", flush=True)
    for n in args.sizes:
        r = run_size(n, args.workers, args.delay, args.audit_args)
        results[n] = r
        marginal = (r["cpu_s"] - fixed["cpu_s"]) / max(r["sites"] - 1, 1) * 1000
        # Even with no CPU at all, the run's fixed time (start-up, the networks at the end:
        # the 1-site run less its one site's requests in a row) is counted in its seconds.
        fixed_s = max(fixed["seconds"] - (len(PAGES) + 1) * args.delay, 0.0)
        network_s = n * (len(PAGES) + 1) / r["ideal"]
        print(f"{n:>6} sites: {r['seconds']:6.1f} s  {r['sites_per_s']:6.1f} sites/s  {r['pages_per_s']:6.1f} pages/s  "
              f"{r['requests_per_s']:6.1f} req/s = {r['ratio']:.0%} of ideal (the run's fixed {fixed_s:.1f} s allow "
              f"at most {network_s / (network_s + fixed_s):.0%})  peak RSS {r['total_rss_mb']:.0f} MB in all "
              f"(PSS {r['total_pss_mb']:.0f} MB; largest process {r['rss_mb']:.0f} MB)  "
              f"CPU {r['cpu_s']:.1f} s = {r['cpu_s'] / r['sites'] * 1000:.0f} ms/site, "
              f"{marginal:.0f} ms/site beyond the fixed cost  {r['verdicts']}", flush=True)
        if args.bare:
            b = bare_fetch(n, args.workers, args.delay)
            print(f"{n:>6} sites, bare asyncio fetch-only client: {b['seconds']:6.1f} s  {b['requests_per_s']:6.1f} req/s  "
                  f"CPU {b['cpu_s']:.1f} s;  audit / bare req/s = {r['requests_per_s'] / b['requests_per_s']:.2f} "
                  "(target >= 0.50 at 50 ms and 64 workers)", flush=True)
    last = results[max(results)]
    cores = os.cpu_count() or 1
    ceiling = cores / (last["cpu_s"] / last["sites"]) * last["requests_per_s"] / last["sites_per_s"]
    print(f"CPU-bound ceiling on {cores} cores (audit process only, no server): {ceiling:.0f} req/s = "
          f"{ceiling / last['ideal']:.0%} of ideal")
    if len(results) >= 2:
        small, large = min(results), max(results)
        for key, what in (("total_rss_mb", "all processes"), ("total_pss_mb", "all processes, PSS"),
                          ("rss_mb", "largest process")):
            print(f"RSS({large}) / RSS({small}), {what}: {results[large][key] / results[small][key]:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
