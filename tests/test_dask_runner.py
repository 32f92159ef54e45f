"""`pharmcheck audit --runner dask` against a real Dask scheduler and two workers, each its own
process, storing into a real PostgreSQL server (tests/pgkit.py): 300 local sites, one worker
SIGKILLed mid-run, the client interrupted and resumed. Every site must be stored exactly once,
with the report a thread-runner run of the same sites gives."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pharmcheck.audit.dask_runner import DaskRunner, audit_on_worker
from pharmcheck.audit.runner import ContextSpec, SiteTask
from pharmcheck.cli import main
from pharmcheck.models import ErrorCode, FetchOptions, Report, Verdict

pytest.importorskip("distributed")
pytest.importorskip("psycopg")

N_SITES = 300
DELAY = 0.03  # seconds before each response: keeps the run long enough to kill a worker during it


def _address(i: int) -> str:
    return f"127.0.{4 + i // 250}.{1 + i % 250}"


def _pages(i: int) -> dict[str, str]:
    nav = "<a href='/about'>About us</a> <a href='/contact'>Contact</a>"
    if i % 3 == 0:
        home = (f"<h1>Pill Express {i}</h1>{nav}<p>Buy Xanax and Oxycodone online without prescription. "
                "No prescription needed!</p><p>Pay with Bitcoin and get 20% off.</p>")
    elif i % 3 == 1:
        home = (f"<h1>Allotment Society {i}</h1>{nav}<p>Seed swaps every month and a compost rota for "
                "members.</p>")
    else:
        home = (f"<h1>High Street Chemist {i}</h1>{nav}<p>Prescription medicines are dispensed only against "
                "a valid prescription from your doctor. Ibuprofen 200 mg, 16 tablets, £2.50.</p>")
    return {"/": f"<html><head><title>Site {i}</title></head><body>{home}</body></html>",
            "/about": f"<html><body><p>Founded in {1950 + i % 70}. Family run.</p></body></html>",
            "/contact": f"<html><body><p>Write to hello{i}@example.org</p></body></html>"}


class ManySites:
    """N_SITES sites, each on its own loopback address, served by one asyncio loop in a thread."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind((_address(0), 0))
            self.port = int(s.getsockname()[1])
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.open = asyncio.Event()  # cleared: requests are read but not answered (see hold)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        assert self.ready.wait(30)
        self.urls = [f"http://{_address(i)}:{self.port}/" for i in range(N_SITES)]

    def _serve(self) -> None:
        by_host = {_address(i): _pages(i) for i in range(N_SITES)}

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    path = head.split(b" ", 2)[1].decode("latin-1")
                    await asyncio.sleep(DELAY)
                    await self.open.wait()
                    host = writer.get_extra_info("sockname")[0]
                    body = by_host.get(host, {}).get(path)
                    data = (body or "<h1>Not found</h1>").encode()
                    writer.write(f"HTTP/1.1 {200 if body else 404} X\r\nContent-Type: text/html; charset=utf-8\r\n"
                                 f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, IndexError):
                pass
            finally:
                writer.close()

        async def start() -> None:
            self.server = await asyncio.start_server(handle, host=list(by_host), port=self.port, backlog=512)
            self.ready.set()

        asyncio.set_event_loop(self.loop)
        self.open.set()
        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def hold(self) -> None:
        """Answer nothing until release(): no site can finish meanwhile, however busy the machine."""
        done = threading.Event()
        self.loop.call_soon_threadsafe(lambda: (self.open.clear(), done.set()))
        assert done.wait(10)

    def release(self) -> None:
        self.loop.call_soon_threadsafe(self.open.set)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.open.set)
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class DaskProcesses:
    """`dask scheduler` and `dask worker` processes (python -m distributed.cli...), stopped at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.scheduler = self._spawn("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                                   "--port", str(port), "--dashboard-address", ":0"])

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT,
                                env=env or dict(os.environ), start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def worker(self, name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        # --no-nanny: the worker process is the one we start, so SIGKILL kills the worker itself.
        return self._spawn(name, ["distributed.cli.dask_worker", self.address, "--no-nanny", "--nthreads", "4",
                                  "--name", name, "--no-dashboard", "--local-directory", str(self.folder / name)],
                           env)

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(count, timeout=60)

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def many_sites() -> Iterator[ManySites]:
    sites = ManySites()
    yield sites
    sites.close()


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[DaskProcesses]:
    cluster = DaskProcesses(tmp_path)
    yield cluster
    cluster.close()


def _stored(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        try:
            row = conn.execute("SELECT count(*) FROM sites").fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row[0]) if row else 0


def _wait_until_stored(url: str, at_least: int, proc: subprocess.Popen[str], timeout: float = 120) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        n = _stored(url)
        if n >= at_least:
            return n
        time.sleep(0.1)
    raise AssertionError(f"fewer than {at_least} sites stored in {timeout} s")


def _comparable(report: dict) -> dict:
    # Times differ between runs; everything else a site gave must be the same.
    return {k: v for k, v in report.items() if k not in ("checked_at", "duration")}


def test_dask_audit_into_postgres_survives_a_killed_worker_and_an_interrupt(
        many_sites: ManySites, dask_cluster: DaskProcesses, postgres_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    listing = tmp_path / "sites.txt"
    listing.write_text("".join(u + "\n" for u in many_sites.urls))
    victim = dask_cluster.worker("worker-a")
    dask_cluster.worker("worker-b")
    dask_cluster.wait_for_workers(2)
    common = ["--allow-private", "--max-pages", "3", "--no-progress", "--workers", "8"]

    first = subprocess.Popen(
        [sys.executable, "-m", "pharmcheck", "audit", str(listing), "--db", postgres_url, "--runner", "dask",
         "--scheduler", dask_cluster.address, "-o", str(tmp_path / "first.jsonl"), *common],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_until_stored(postgres_url, 40, first)
    victim.send_signal(signal.SIGKILL)  # with sites of its own in flight
    victim.wait(10)
    _wait_until_stored(postgres_url, 120, first)
    # Held while the interrupt lands: a quick run could otherwise finish all its sites first.
    many_sites.hold()
    first.send_signal(signal.SIGINT)
    try:
        _, err = first.communicate(timeout=60)
    finally:
        many_sites.release()
    assert first.returncode == 130, err
    assert "resume with:" in err
    assert "internal error" not in err  # the killed worker's sites were run again elsewhere, not failed
    stored_before = _stored(postgres_url)
    assert stored_before < N_SITES

    resumed = subprocess.run(
        [sys.executable, "-m", "pharmcheck", "audit", str(listing), "--db", postgres_url, "--resume",
         "--scheduler", dask_cluster.address, "-o", str(tmp_path / "resumed.jsonl"), *common],
        capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{N_SITES} of {N_SITES} sites stored; {N_SITES - stored_before} audited now" in resumed.stderr

    import psycopg

    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT url) FROM sites").fetchone() == (N_SITES, N_SITES)
        findings = dict(conn.execute("SELECT url, count(*) FROM findings GROUP BY url").fetchall())
        reports = {url: json.loads(text) for url, text in conn.execute("SELECT url, report FROM sites")}
        assert conn.execute("SELECT count(*) FROM runs WHERE finished_at IS NOT NULL").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM sites WHERE error_kind IS NOT NULL").fetchone() == (0,)
    for url, report in reports.items():  # findings stored once, not once per attempt
        assert findings.get(url, 0) == len(report["findings"]), url
    resumed_out = [json.loads(line) for line in (tmp_path / "resumed.jsonl").read_text().splitlines()]
    assert sorted(r["url"] for r in resumed_out) == sorted(many_sites.urls)  # the whole run, each site once

    # The same sites on the thread runner, into SQLite: the same reports.
    assert main(["audit", str(listing), "--db", str(tmp_path / "threads.db"), "-o", str(tmp_path / "t.jsonl"),
                 "--processes", "1", *common]) == 0
    capsys.readouterr()
    threaded = {r["url"]: r for r in map(json.loads, (tmp_path / "t.jsonl").read_text().splitlines())}
    assert {u: _comparable(r) for u, r in reports.items()} == {u: _comparable(r) for u, r in threaded.items()}
    verdicts = {r["verdict"] for r in threaded.values()}
    assert {"rogue", "not_pharmacy"} <= verdicts  # the sites really were told apart


def test_a_worker_with_other_rules_is_refused_with_a_clear_error(
        many_sites: ManySites, dask_cluster: DaskProcesses, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import pharmcheck
    from pharmcheck.rules.load import default_rules_dir

    # Another install of pharmcheck whose rules differ by one comment: same version, other content.
    other = tmp_path / "other-install"
    shutil.copytree(Path(pharmcheck.__file__).parent, other / "pharmcheck",
                    ignore=shutil.ignore_patterns("__pycache__", "_rules"))
    shutil.copytree(default_rules_dir(), other / "pharmcheck" / "_rules")
    with open(other / "pharmcheck" / "_rules" / "scoring.yaml", "a", encoding="utf-8") as fh:
        fh.write("\n# edited on this worker only\n")
    dask_cluster.worker("stale-worker", env={**os.environ, "PYTHONPATH": str(other)})
    dask_cluster.wait_for_workers(1)
    listing = tmp_path / "sites.txt"
    listing.write_text(many_sites.urls[0] + "\n")
    code = main(["audit", str(listing), "--db", str(tmp_path / "a.db"), "--scheduler", dask_cluster.address,
                 "--allow-private", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "has other rules than this client (rules_sha256" in err


CRASH_URL = "http://127.0.9.9:9/kills-workers"


def crash_on_marked_site(task: SiteTask, spec: ContextSpec, expected: dict[str, str]) -> str:
    """On a worker: the process dies on one site (as a native-code crash or the OOM killer would
    do it), and audits the others as usual."""
    if task.url == CRASH_URL:
        os._exit(1)
    return audit_on_worker(task, spec, expected)


class Collect:
    def __init__(self) -> None:
        self.done: dict[str, Report] = {}
        self.failed: list[str] = []

    def site_started(self, task: SiteTask) -> None:
        pass

    def site_done(self, task: SiteTask, report: Report) -> None:
        self.done[task.url] = report

    def site_failed(self, task: SiteTask, error: BaseException) -> None:
        self.failed.append(task.url)


def test_a_site_that_keeps_killing_workers_is_stored_as_an_error_and_the_run_goes_on(
        many_sites: ManySites) -> None:
    import cloudpickle
    import dask

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    tasks = [SiteTask(url=many_sites.urls[0], position=0), SiteTask(url=CRASH_URL, position=1),
             SiteTask(url=many_sites.urls[1], position=2)]
    spec = ContextSpec(options=FetchOptions(allow_private=True, max_pages=3))
    observer = Collect()
    # One site in flight, so only the crashing site is on a worker when it dies; one retry, not three.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        runner = DaskRunner(1, local_workers=1, site_function=crash_on_marked_site)
        outcome = runner.run(tasks, spec, observer, threading.Event())
    assert observer.failed == [] and outcome.completed == 3
    crashed = observer.done[CRASH_URL]
    assert crashed.verdict == Verdict.unreachable
    assert [e.code for e in crashed.errors] == [ErrorCode.worker_crash]
    assert "died" in crashed.errors[0].message
    assert {observer.done[u].verdict for u in many_sites.urls[:2]} == {Verdict.rogue, Verdict.not_pharmacy}


class KillOnFirstResult(Collect):
    """On the first site delivered, while the client is busy with it: waits until the victim
    worker holds finished results the client has not collected yet, kills it, and returns as
    soon as the scheduler knows, so those results are lost before the client gets to them."""

    def __init__(self, address: str, victim: subprocess.Popen[bytes]) -> None:
        super().__init__()
        self.address = address
        self.victim = victim
        self.killed_holding = 0

    def site_done(self, task: SiteTask, report: Report) -> None:
        super().site_done(task, report)
        if self.victim.poll() is not None:
            return
        from distributed import Client

        with Client(self.address, timeout=30) as side:
            workers = side.scheduler_info()["workers"]
            [victim_address] = [a for a, w in workers.items() if w["name"] == "worker-a"]
            end = time.monotonic() + 30
            while time.monotonic() < end:
                held = [k for k, where in side.who_has().items() if victim_address in where]
                if len(held) >= 2:
                    break
                time.sleep(0.02)
            self.killed_holding = len(held)
            self.victim.send_signal(signal.SIGKILL)
            self.victim.wait(10)
            while len(side.scheduler_info()["workers"]) > 1 and time.monotonic() < end:
                time.sleep(0.01)


def test_results_lost_with_a_killed_worker_before_they_are_collected_are_computed_again(
        many_sites: ManySites, dask_cluster: DaskProcesses) -> None:
    victim = dask_cluster.worker("worker-a")
    dask_cluster.worker("worker-b")
    dask_cluster.wait_for_workers(2)
    urls = many_sites.urls[:16]
    tasks = [SiteTask(url=u, position=i) for i, u in enumerate(urls)]
    spec = ContextSpec(options=FetchOptions(allow_private=True, max_pages=3))
    observer = KillOnFirstResult(dask_cluster.address, victim)
    outcome = DaskRunner(8, scheduler=dask_cluster.address).run(tasks, spec, observer, threading.Event())
    assert observer.killed_holding >= 2  # the case under test happened
    assert observer.failed == []  # not "internal error" for a result that was only lost
    assert outcome.completed == len(urls) and sorted(observer.done) == sorted(urls)
    assert {r.verdict for r in observer.done.values()} == {Verdict.rogue, Verdict.not_pharmacy, Verdict.legitimate}
