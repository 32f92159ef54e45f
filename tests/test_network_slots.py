"""--workers N as network slots: at most N requests in flight, more than N sites open, the wait
for a slot not counted against a site's deadline, and the same reports as before.

Against a real local HTTP server; several made-up hosts (--resolve to 127.0.0.1), so the
per-host cap does not hide the slots. No timed assertions: events, counts and comparisons."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pharmcheck.audit.runner import ContextSpec, SiteTask, ThreadRunner, open_sites
from pharmcheck.check import CheckContext, LocalAnalysis, LocalAnalyst, SiteAnalysis, check_site
from pharmcheck.fetch import HostLimiter
from pharmcheck.fetch.base import Deadline
from pharmcheck.fetch.live import LiveTransport
from pharmcheck.models import FetchOptions, PageFacts, Report, Response
from pharmcheck.ruleset import RuleSet

PAGE = ("<html><head><title>{host}</title></head><body><h1>Pharmacy {host}</h1>"
        "<p>Prescription medicines dispensed by a registered pharmacist.</p>"
        '<a href="/about">About us</a> <a href="/contact">Contact</a></body></html>')
HANG = 60.0  # only so that a broken build fails instead of hanging; never reached when it works


class Internet:
    """One server for many hosts; counts the requests in flight (and the most ever) and the
    hosts they are for. While `pairing`, each request is held until another one arrives, so
    that requests overlap whenever the client lets them; a request of "held.example" is held
    until `gate` is set."""

    def __init__(self, pairing: bool = False) -> None:
        self.in_flight: list[str] = []  # the host of each request on the server now
        self.most_in_flight = 0
        self.hosts_seen: list[str] = []
        self.pairing = pairing
        self.watching = ""  # a host whose site waits on analysis: are two others on the server at once?
        self.others_together = False
        self.changed = threading.Condition()
        self.gate = threading.Event()
        self.gate.set()
        internet = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                host = self.headers.get("Host", "").split(":")[0]
                with internet.changed:
                    internet.in_flight.append(host)
                    internet.most_in_flight = max(internet.most_in_flight, len(internet.in_flight))
                    internet.hosts_seen.append(host)
                    arrived = len(internet.hosts_seen)
                    if internet.watching and len(set(internet.in_flight) - {internet.watching}) >= 2:
                        internet.others_together = True
                    internet.changed.notify_all()
                    # Held until another request arrives while this one is here.
                    internet.changed.wait_for(lambda: not internet.pairing or len(internet.hosts_seen) > arrived,
                                              timeout=HANG)
                if host == "held.example":
                    internet.gate.wait(HANG)
                if self.path == "/robots.txt":
                    status, body = 404, b"not here"
                else:
                    status, body = 200, PAGE.format(host=host).encode()
                with internet.changed:
                    internet.in_flight.remove(host)
                    internet.changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}/"

    def options(self, hosts: list[str], **more: Any) -> FetchOptions:
        return FetchOptions(resolve=tuple(f"{h}:{self.port}:127.0.0.1" for h in hosts), allow_private=True,
                            offline=True, max_pages=3, **more)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return RuleSet.load()


class _Collect:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.reports: dict[str, Report] = {}
        self.failed: list[tuple[str, BaseException]] = []

    def site_started(self, task: SiteTask) -> None:
        self.started.append(task.url)

    def site_done(self, task: SiteTask, report: Report) -> None:
        self.reports[task.url] = report

    def site_failed(self, task: SiteTask, error: BaseException) -> None:
        self.failed.append((task.url, error))


def _comparable(report: Report) -> dict[str, Any]:
    """A report without what changes from one run to the next (when, how long)."""
    data = report.model_dump(mode="json", exclude={"checked_at", "duration"})
    for fact in data["facts"]:
        fact.pop("gathered_at", None)
    return data


class _HeldAnalysis(LocalAnalysis):
    """Extracting the first page of site "a" waits until requests of two other sites are on
    the server at once: which needs a third site open while "a" waits on analysis, and the
    network slot "a" left taken by another site's request. Then the server stops pairing."""

    def __init__(self, ruleset: RuleSet, internet: Internet, outcome: dict[str, bool]) -> None:
        super().__init__(ruleset)
        self.internet = internet
        self.outcome = outcome

    def extract(self, resp: Response) -> PageFacts:
        internet = self.internet
        if resp.url.startswith("http://a.example") and "a" not in self.outcome:
            with internet.changed:
                internet.watching = "a.example"
                self.outcome["a"] = internet.changed.wait_for(lambda: internet.others_together, timeout=HANG)
                internet.watching, internet.pairing = "", False
                internet.changed.notify_all()
        return super().extract(resp)


class _HeldAnalyst(LocalAnalyst):
    def __init__(self, internet: Internet, outcome: dict[str, bool]) -> None:
        self.internet = internet
        self.outcome = outcome

    def site(self, ruleset: RuleSet) -> SiteAnalysis:
        return _HeldAnalysis(ruleset, self.internet, self.outcome)


def test_workers_are_requests_in_flight_with_more_sites_open(ruleset: RuleSet) -> None:
    hosts = ["a.example", *(f"s{i}.example" for i in range(9))]
    internet = Internet(pairing=True)
    try:
        options = internet.options(hosts)
        outcome: dict[str, bool] = {}
        ctx = CheckContext(ruleset=ruleset, options=options, limiter=HostLimiter(options.per_host),
                           analyst=_HeldAnalyst(internet, outcome))
        seen = _Collect()
        tasks = [SiteTask(internet.url(h), i) for i, h in enumerate(hosts)]
        runner = ThreadRunner(2, ctx)
        result = runner.run(tasks, ContextSpec(options), seen, threading.Event())
        most = internet.most_in_flight
        # One site at a time, without slots: the reports of the old behaviour.
        plain = CheckContext(ruleset=ruleset, options=options, limiter=HostLimiter(options.per_host))
        alone = {task.url: check_site(task.url, plain) for task in tasks}
    finally:
        internet.close()
    assert runner.sites_open == open_sites(2) > 2
    # While "a" waited on its page's analysis, two other sites had requests on the network.
    assert outcome == {"a": True}
    assert most <= 2, f"{most} requests in flight with --workers 2"
    assert (result.completed, result.failed, result.stopped) == (len(hosts), 0, False)
    assert {url: _comparable(r) for url, r in seen.reports.items()} == {url: _comparable(r) for url, r in alone.items()}
    assert all(r.verdict.value != "unreachable" and r.pages for r in alone.values())


def test_a_wait_for_a_network_slot_does_not_eat_the_site_deadline() -> None:
    internet = Internet()
    internet.gate.clear()  # the request of held.example stays on the network until we say
    limiter = HostLimiter(per_host=2, network_slots=1)
    options = internet.options(["held.example", "late.example"], site_timeout=3.0)
    answers: dict[str, Response] = {}
    deadlines: dict[str, Deadline] = {}
    asking = threading.Event()

    def fetch(host: str) -> None:
        transport = LiveTransport(options, limiter)
        try:
            # The site starts now: its deadline runs from here, as check_site's does.
            deadline = deadlines[host] = Deadline(options.site_timeout if host == "late.example" else HANG)
            if host == "late.example":
                asking.set()
            answers[host] = transport.exchange(internet.url(host), deadline)
        finally:
            transport.close()

    held = threading.Thread(target=fetch, args=("held.example",))
    late = threading.Thread(target=fetch, args=("late.example",))
    try:
        held.start()
        with internet.changed:  # the one slot is taken: held.example is on the network
            assert internet.changed.wait_for(lambda: internet.in_flight == ["held.example"], timeout=HANG)
        late.start()
        assert asking.wait(HANG)
        first_end = deadlines["late.example"].end
        # The slot stays taken until the whole of late.example's deadline has gone by (a wait
        # for the clock, not a race: nothing of late.example can reach the server meanwhile).
        while (left := first_end - time.monotonic()) > 0:
            threading.Event().wait(left)
        with internet.changed:
            assert "late.example" not in internet.hosts_seen
        internet.gate.set()
        held.join(HANG)
        late.join(HANG)
    finally:
        internet.gate.set()
        internet.close()
    assert answers["held.example"].status == 200
    # The site waited longer than its deadline for the slot, and still got its page.
    assert answers["late.example"].error is None and answers["late.example"].status == 200
    assert deadlines["late.example"].end > first_end + 2.0  # moved by the wait (about 3 s of it)


def test_pauses_move_the_deadline_once_for_overlapping_waits() -> None:
    deadline = Deadline(10.0)
    end = deadline.end
    deadline.pause(100.0, 101.5)
    assert deadline.end == end + 1.5
    deadline.pause(101.0, 102.0)  # another thread of the site, waiting over the same second
    assert deadline.end == end + 2.0
    deadline.pause(103.0, 103.0)
    assert deadline.end == end + 2.0


def test_without_slots_the_limiter_only_caps_hosts() -> None:
    limiter = HostLimiter(per_host=1)
    deadline = Deadline(10.0)
    end = deadline.end
    with limiter.on_the_network(deadline), limiter.on_the_network(deadline):
        pass  # no slots: nothing to wait for, even nested
    assert deadline.end == end
