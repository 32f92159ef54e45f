"""`audit diff`, `audit FILE --since RUN` and `audit prune`: two runs of one list with known
changes between them, on real local servers."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from netsites import ShopServer
from pharmcheck.audit.diff import diff_runs
from pharmcheck.audit.store import AuditStore
from pharmcheck.models import Confidence, Finding, Report, Severity, ToolInfo, Verdict
from sitekit import cli, run_cli

CLUB = {"/": "<html><head><title>Hill Street Garden Club</title></head><body><h1>Garden club</h1>"
             "<p>Monthly meetings about roses, compost and seed swaps in the village hall.</p></body></html>"}
BAKERY = {"/": "<html><head><title>Corner Bakery</title></head><body><h1>Fresh bread</h1>"
               "<p>Sourdough and rye every morning from seven; cakes to order for birthdays.</p></body></html>"}
ROGUE = {"/": "<html><head><title>Cheap Meds Express</title></head><body><h1>Cheap meds, fast</h1>"
              "<p>Buy Xanax and Oxycodone online without prescription. No prescription needed!</p>"
              "<p>Pay with Bitcoin and get 20% off every order.</p></body></html>"}


def _audit(listing: Path, db: Path, *extra: str) -> tuple[int, str]:
    done = run_cli("audit", str(listing), "--db", str(db), "--allow-private", "--no-progress", "--processes", "1",
                   "-o", str(db.with_suffix(".jsonl")), *extra)
    return done.returncode, done.stderr


def test_diff_of_two_runs_reports_exactly_the_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    same = ShopServer("127.0.9.1", dict(CLUB))
    turns_rogue = ShopServer("127.0.9.2", dict(BAKERY))
    goes_down = ShopServer("127.0.9.3", dict(CLUB))
    dropped = ShopServer("127.0.9.4", dict(BAKERY))
    added = ShopServer("127.0.9.5", dict(ROGUE))
    try:
        listing = tmp_path / "list.txt"
        db = tmp_path / "audit.db"
        listing.write_text(f"{same.url}\n{turns_rogue.url}\n{goes_down.url}\n{dropped.url}\n")
        code, err = _audit(listing, db)
        assert code == 0, err
        # Between the runs: one shop turns rogue, one server goes away, the list loses one
        # site and gains another.
        turns_rogue.routes.clear()
        turns_rogue.routes.update(ROGUE)
        goes_down.close()
        listing.write_text(f"{same.url}\n{turns_rogue.url}\n{goes_down.url}\n{added.url}\n")
        code, err = _audit(listing, db, "--since", "1", "--fail-on", "rogue")
        assert code == 1, err  # sites reached rogue since run 1
        assert "runs 1 -> 2: 4 -> 4 sites, 4 changed" in err
        page = tmp_path / "run2.html"
        assert cli(capsys, "report", "--db", str(db), "-o", str(page)).returncode == 0
        html = page.read_text()
        assert "Changes since run 1" in html and "became unreachable" in html and "RX-NO-PRESCRIPTION" in html

        shown = cli(capsys, "audit", "diff", "1", "2", "--db", str(db), "--format", "json")
        assert shown.returncode == 0, shown.stderr
        diff = json.loads(shown.stdout)
        changes = {c["url"]: c for c in diff["changes"]}
        assert {u: c["change"] for u, c in changes.items()} == {
            turns_rogue.url: "verdict", goes_down.url: "unreachable", dropped.url: "vanished", added.url: "new"}
        rogue = changes[turns_rogue.url]
        assert (rogue["before"], rogue["after"]) == ("not_pharmacy", "rogue")
        assert "RX-NO-PRESCRIPTION" in rogue["new_red_flags"]
        assert {f["rule_id"] for f in rogue["new_findings"]} >= set(rogue["new_red_flags"])
        assert changes[goes_down.url]["after"] == "unreachable (connection_refused)"
        assert changes[added.url]["after"] == "rogue"

        as_csv = cli(capsys, "audit", "diff", "1", "2", "--db", str(db), "--format", "csv", "--fail-on", "rogue")
        assert as_csv.returncode == 1
        rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
        assert sorted(r["change"] for r in rows) == ["new", "unreachable", "vanished", "verdict"]
        text = cli(capsys, "audit", "diff", "1", "2", "--db", str(db))
        assert f"verdict changed     {turns_rogue.url}  not_pharmacy" in text.stdout
        backwards = cli(capsys, "audit", "diff", "2", "1", "--db", str(db), "--fail-on", "rogue")
        assert backwards.returncode == 0, "nothing reached rogue going from run 2 to run 1"
        assert cli(capsys, "audit", "diff", "1", "7", "--db", str(db)).returncode == 2
        assert _audit(listing, db, "--since", "7")[0] == 2
        # Re-auditing with the changes as JSON / CSV in a file (stdout holds the audit's report)
        as_json = tmp_path / "changes.json"
        code, err = _audit(listing, db, "--since", "1", "--since-output", str(as_json))
        assert code == 0, err
        written = json.loads(as_json.read_text())
        assert {c["url"]: c["change"] for c in written["changes"]} == {u: c["change"] for u, c in changes.items()}
        assert "Changes since" not in err and "verdict changed" not in err
        as_csv_file = tmp_path / "changes.txt"
        code, _ = _audit(listing, db, "--since", "1", "--since-output", str(as_csv_file), "--since-format", "csv")
        assert code == 0
        assert sorted(r["change"] for r in csv.DictReader(io.StringIO(as_csv_file.read_text()))) == \
            ["new", "unreachable", "vanished", "verdict"]
        code, err = _audit(listing, db, "--since-format", "json")
        assert code == 2 and "need --since" in err
    finally:
        for server in (same, turns_rogue, dropped, added):
            server.close()


def _report(url: str, verdict: Verdict, score: int, *rules: str) -> Report:
    findings = [Finding(rule_id=r, criterion="commerce", severity=Severity.medium, confidence=Confidence.high,
                        weight=-5, message=r) for r in rules]
    return Report(url=url, final_url=url, verdict=verdict, score=score, findings=findings,
                  tool=ToolInfo(name="pharmcheck", version="0", rules_version="0"))


def test_score_moves_count_from_the_threshold(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "a.db")
    tool = ToolInfo(name="pharmcheck", version="0", rules_version="0")
    for run_id, (score_a, score_b) in ((1, (40, 50)), (2, (40, 49))):
        a = store.start_run("l", "l", {}, tool, 3)
        b = store.start_run("l", "l", {}, tool, 3)
        store.add_site(a.id, 0, _report("https://a.test/", Verdict.suspicious, score_a))
        store.add_site(b.id, 0, _report("https://a.test/", Verdict.suspicious, score_b))
        store.add_site(a.id, 1, _report("https://b.test/", Verdict.suspicious, 45))
        store.add_site(b.id, 1, _report("https://b.test/", Verdict.suspicious, 45, "CM-BONUS-PILLS"))
        diff = diff_runs(store, a.id, b.id, score_threshold=10)
        kinds = {c.url: c.change for c in diff.changes}
        expected = {"https://b.test/": "findings"}
        if score_b - score_a >= 10:
            expected["https://a.test/"] = "score"
        assert kinds == expected, run_id
    store.close()


def test_prune_keeps_the_latest_runs_of_each_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "a.db"
    store = AuditStore(db)
    tool = ToolInfo(name="pharmcheck", version="0", rules_version="0")
    for key in ("weekly", "weekly", "weekly", "other"):
        run = store.start_run(key, key, {}, tool, 1)
        store.add_site(run.id, 0, _report(f"https://{key}.test/", Verdict.rogue, 5, "CM-BONUS-PILLS"))
    store.close()
    dry = cli(capsys, "audit", "prune", "--db", str(db), "--keep", "1", "--dry-run")
    assert dry.returncode == 0 and "would remove run 1" in dry.stderr and "would remove run 2" in dry.stderr
    done = cli(capsys, "audit", "prune", "--db", str(db), "--keep", "1")
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY id")] == [3, 4]
        assert {r[0] for r in conn.execute("SELECT DISTINCT run_id FROM findings")} == {3, 4}
        assert {r[0] for r in conn.execute("SELECT DISTINCT run_id FROM sites")} == {3, 4}
    assert cli(capsys, "audit", "prune", "--db", str(db)).returncode == 2
