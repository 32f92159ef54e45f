"""Analysis in processes of its own, one per core, for an audit whose threads only fetch.

A site's fetching thread (audit/runner.py's ThreadRunner) hands each page it read to the
analysis process of its site, which extracts it and keeps the page's facts; the thread gets
back only what the crawl needs to go on (title, language, links) and waits on the network
again. Once the site is crawled, the same process judges it and returns the report. So the
fetching threads never fight over the GIL with parsing and rules (which costs CPU and
latency when dozens of threads parse in one process), adding workers adds waiting, not CPU,
and politeness stays in one place: every request leaves the audit process, through one
HostLimiter, whatever the number of processes.

The processes are forked with the run's loaded rules (nothing pickled; with another start
method each loads the spec's rules). A process that dies takes its sites in progress with it
(internal errors: not stored, `--resume` retries them) and is started again, a few times at
most. Not used with --render or --screenshots, whose reading of a page looks at its facts in
the fetching thread.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import pickle
import queue
import socket
import threading
from typing import Any

from pharmcheck.audit.children import child_of_the_audit
from pharmcheck.check import SiteAnalysis, assess
from pharmcheck.extract import extract_page
from pharmcheck.fetch import Deadline
from pharmcheck.models import FetchError, Link, PageFacts, PageInfo, Report, Response, SiteFacts
from pharmcheck.ruleset import RuleSet

RESTARTS = 3  # analysis processes started again in a run; more is a bug, not bad luck

# --- in an analysis process ------------------------------------------------------------------


def _serve(conn: Any, ruleset: RuleSet | None, rules: str | None, parent: int) -> None:
    """Answer (operation, site, payload) requests until the audit closes the pipe."""
    child_of_the_audit(parent)
    # Answers go out from a thread of their own: when the audit is slow to read them (its
    # reader thread waits for the GIL behind dozens of fetching threads), the pipe fills and
    # sending blocks; the analysis, the scarce CPU, goes on meanwhile (measured blocked
    # sending: ~4 ms per site, with benchmarks/audit_throughput.py --phases -- --runner pool).
    outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def send_answers() -> None:
        while (data := outbox.get()) is not None:
            try:
                conn.send_bytes(data)
            except OSError:
                os._exit(1)  # the audit is gone

    sender = threading.Thread(target=send_answers, daemon=True)
    sender.start()
    try:
        _answer_requests(conn, outbox, ruleset if ruleset is not None else RuleSet.load(rules))
    finally:
        outbox.put(None)
        sender.join()  # every answer sent before the process exits


def _answer_requests(conn: Any, outbox: queue.SimpleQueue[bytes | None], rules_in_use: RuleSet) -> None:
    pages: dict[int, dict[int, PageFacts]] = {}  # site -> page token -> its facts
    tokens = itertools.count()
    while True:
        try:
            request, operation, site, payload = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        answer: tuple[bool, Any]
        try:
            if operation == "extract":
                facts = extract_page(payload, rules_in_use.drug_index)
                token = next(tokens)
                pages.setdefault(site, {})[token] = facts
                answer = True, (token, facts.title, facts.language, [(link.url, link.text) for link in facts.links])
            elif operation == "assess":
                facts_of, infos, errors, deadline, kept = payload
                held = pages.pop(site, {})
                full = facts_of.model_copy(update={"pages": [held[token] for token in kept]})
                answer = True, assess(full, infos, errors, rules_in_use, deadline)
            else:  # "drop": the site ended without being judged
                pages.pop(site, None)
                answer = True, None
        except Exception as exc:  # a bug in analysis: that site fails, the process goes on
            answer = False, f"{type(exc).__name__}: {exc}"
        outbox.put(pickle.dumps((request, *answer), protocol=pickle.HIGHEST_PROTOCOL))


# --- in the audit ------------------------------------------------------------------------------


class AnalysisPoolDied(RuntimeError):
    """The analysis processes keep dying (or cannot start): the audit stops."""


class _Answer:
    __slots__ = ("done", "ok", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False
        self.value: Any = None


class _Process:
    """One analysis process and the pipe to it. Requests from many threads are queued in the
    pipe (the process works through them in order, never idle while one is waiting) and a
    reader thread hands each answer to the thread that asked."""

    def __init__(self, mp_context: Any, ruleset: RuleSet | None, rules: str | None, name: str) -> None:
        self.conn, theirs = mp_context.Pipe()
        self.process = mp_context.Process(target=_serve, args=(theirs, ruleset, rules, os.getpid()),
                                          name=name, daemon=True)
        self.process.start()
        theirs.close()  # ours closed: its death is an EOF here
        self.sites = 0  # open sites, to give the next one to the least busy process
        self.alive = True
        self._send = threading.Lock()
        # Waiting for the process is done under this lock: multiprocessing's join is not
        # thread-safe (two threads' waitpid race; the loser sees no exit code and "alive").
        self._reaping = threading.Lock()
        self._waiting: dict[int, _Answer] = {}
        self._ids = itertools.count()
        self._reader = threading.Thread(target=self._read, name=f"{name}-answers", daemon=True)
        self._reader.start()

    def call(self, operation: str, site: int, payload: Any) -> Any:
        answer = _Answer()
        request = next(self._ids)
        data = pickle.dumps((request, operation, site, payload), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with self._send:
                if not self.alive:
                    raise EOFError
                self._waiting[request] = answer
                self.conn.send_bytes(data)
        except (EOFError, OSError):
            self._waiting.pop(request, None)
            self._died()
            raise _Died(f"analysis process died (exit code {self._wait(0)})") from None
        answer.done.wait()
        if not answer.ok:
            if answer.value is None:
                raise _Died(f"analysis process died (exit code {self._wait(0)})")
            raise RuntimeError(answer.value)
        return answer.value

    def _read(self) -> None:
        while True:
            try:
                request, ok, value = pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError):
                self._died()
                return
            answer = self._waiting.pop(request)
            answer.ok, answer.value = ok, value
            answer.done.set()

    def _died(self) -> None:
        with self._send:
            self.alive = False
            waiting, self._waiting = self._waiting, {}
        self._wait(1)
        for answer in waiting.values():  # ok False, no message: the process is gone
            answer.done.set()

    def stop(self) -> None:
        """Tell the process there is no more work: it exits once it has answered what it has.
        Closing our end is not enough: our reader thread, blocked reading it, keeps the socket
        open, and so do the processes forked after this one (a copy of it each), so the process
        saw no EOF and every close waited out its join timeout (1 s per process per run)."""
        with self._send:
            self.alive = False
            with contextlib.suppress(OSError), socket.socket(fileno=os.dup(self.conn.fileno())) as ours:
                ours.shutdown(socket.SHUT_WR)  # acts on the socket, whichever descriptor of it we hold

    def _wait(self, timeout: float) -> int | None:
        """The process's exit code once it has ended, waiting up to `timeout` s; None if alive."""
        with self._reaping:
            self.process.join(timeout)
            return self.process.exitcode

    def close(self) -> None:
        self.stop()
        if self._wait(1) is None:
            with self._reaping:
                self.process.kill()
            self._wait(1)
        # The reader sees EOF once the process is gone; closing the pipe under it instead
        # would have it read from a closed connection.
        self._reader.join(1)
        self.conn.close()


class _Died(RuntimeError):
    pass


class AnalysisPool:
    """A `check.Analyst` whose sites are analysed in `processes` processes, with `ruleset`
    (loaded from `rules`). Thread-safe: every fetching thread of an audit uses it."""

    def __init__(self, processes: int, ruleset: RuleSet, rules: str | None) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.ruleset = ruleset
        self.rules = rules
        self.restarts = 0
        self.dead = False  # restarted too often: no new site is taken
        self._mp = multiprocessing.get_context()
        self._lock = threading.Lock()
        self._ids = itertools.count()
        # Started now, from the caller's thread, before the audit starts its fetching threads.
        self._processes = [self._start(i) for i in range(processes)]

    def _start(self, index: int) -> _Process:
        # Forked children get the loaded rules as a copy of our memory; others load them.
        inherited = self.ruleset if self._mp.get_start_method() == "fork" else None
        return _Process(self._mp, inherited, self.rules, f"pharmcheck-analysis-{index}")

    def site(self, ruleset: RuleSet) -> SiteAnalysis:
        # `ruleset` is the run's: the processes hold the same one (self.ruleset).
        with self._lock:
            if self.dead:
                raise AnalysisPoolDied("analysis processes keep dying; see the messages above")
            for i, process in enumerate(self._processes):
                if not process.alive:
                    if self.restarts >= RESTARTS:
                        self.dead = True
                        raise AnalysisPoolDied("analysis processes keep dying; see the messages above")
                    self.restarts += 1
                    process.close()
                    self._processes[i] = self._start(i)
            chosen = min(self._processes, key=lambda p: p.sites)
            chosen.sites += 1
        return _RemoteSite(self, chosen, next(self._ids))

    def _release(self, process: _Process) -> None:
        with self._lock:
            process.sites -= 1

    def close(self) -> None:
        with self._lock:
            for process in self._processes:
                process.stop()  # all at once: they exit side by side
            for process in self._processes:
                process.close()


class _RemoteSite:
    """One site's analysis in its process: pages stay there; the crawl gets what it needs."""

    def __init__(self, pool: AnalysisPool, process: _Process, site: int) -> None:
        self.pool = pool
        self.process = process
        self.id = site
        self._tokens: dict[int, int] = {}  # id() of a page's facts here -> its token there
        self._open = True

    def extract(self, resp: Response) -> PageFacts:
        token, title, language, links = self.process.call("extract", self.id, resp)
        # What the crawl reads of a page (the frontier, the title and language of its
        # PageInfo, off-site links for the site facts); the rest stays in the process.
        facts = PageFacts(url=resp.url, title=title, language=language,
                          links=[Link(url, text) for url, text in links])
        self._tokens[id(facts)] = token
        return facts

    def assess(self, site: SiteFacts, infos: list[PageInfo], errors: list[FetchError],
               deadline: Deadline) -> Report:
        kept = [self._tokens[id(page)] for page in site.pages]
        bare = site.model_copy(update={"pages": []})
        self._open = False  # the process forgets the site's pages as it judges it
        report: Report = self.process.call("assess", self.id, (bare, infos, errors, deadline, kept))
        return report

    def close(self) -> None:
        try:
            if self._open and self.process.alive:
                self.process.call("drop", self.id, None)
        except RuntimeError:
            pass  # the process is gone, and the site's pages with it
        finally:
            self._open = False
            self.pool._release(self.process)
