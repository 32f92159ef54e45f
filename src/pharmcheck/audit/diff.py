"""What changed between two runs of an audit (`pharmcheck audit diff RUN_A RUN_B`).

Read from the `sites` and `findings` tables only (no report is parsed), so comparing two
10,000-site runs is a few queries. Sites are matched by their normalised input URL.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pharmcheck.audit.store import Store
from pharmcheck.models import FAIL_ON_RANK, VERDICT_RANK, Severity, Verdict
from pharmcheck.report.tabular import csv_safe

DEFAULT_SCORE_THRESHOLD = 10
_SEVERITY_RANK = {s.value: i for i, s in enumerate(Severity)}
RED_FLAG_MIN = Severity.high.value  # as scoring.yaml's red_flag_min_severity ships


@dataclass
class SiteState:
    verdict: str
    score: int | None  # None: not assessed
    error_kind: str | None
    findings: dict[str, tuple[str, float, str]]  # rule_id -> (severity, weight, message)


@dataclass
class SiteChange:
    url: str
    change: str  # new | vanished | verdict | unreachable | score | findings
    before: str = ""
    after: str = ""
    score_before: int | None = None
    score_after: int | None = None
    new_findings: list[dict[str, Any]] = field(default_factory=list)
    gone_findings: list[str] = field(default_factory=list)
    new_red_flags: list[str] = field(default_factory=list)


@dataclass
class RunDiff:
    run_a: int
    run_b: int
    sites_a: int
    sites_b: int
    score_threshold: int
    changes: list[SiteChange]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.change] = out.get(c.change, 0) + 1
        return out

    def appeared_at_or_above(self, fail_on: str) -> list[SiteChange]:
        """Sites that reached `fail_on` or worse in run B, from below it or from nowhere."""
        level = FAIL_ON_RANK[fail_on]
        out = []
        for c in self.changes:
            after = VERDICT_RANK.get(c.after, 0)
            before = VERDICT_RANK.get(c.before, 0) if c.change != "new" else -1
            if c.change in ("new", "verdict") and after >= level > before:
                out.append(c)
        return out


def _states(db: Store, run_id: int) -> dict[str, SiteState]:
    states = {url: SiteState(verdict, score, kind, {}) for url, verdict, score, kind in db.query(
        "SELECT url, verdict, score, error_kind FROM sites WHERE run_id = ?", (run_id,))}
    for url, rule_id, severity, weight, message in db.query(
            "SELECT url, rule_id, severity, weight, message FROM findings WHERE run_id = ?", (run_id,)):
        state = states.get(url)
        if state is not None:
            state.findings.setdefault(rule_id, (severity, weight, message))
    return states


def diff_runs(db: Store, run_a: int, run_b: int, score_threshold: int = DEFAULT_SCORE_THRESHOLD) -> RunDiff:
    a = _states(db, run_a)
    b = _states(db, run_b)
    changes: list[SiteChange] = []
    for url in sorted(a.keys() | b.keys()):
        old, new = a.get(url), b.get(url)
        if old is None:
            assert new is not None
            changes.append(SiteChange(url, "new", after=new.verdict, score_after=new.score))
            continue
        if new is None:
            changes.append(SiteChange(url, "vanished", before=old.verdict, score_before=old.score))
            continue
        change = SiteChange(url, "", before=old.verdict, after=new.verdict, score_before=old.score,
                            score_after=new.score)
        for rule_id in sorted(new.findings.keys() - old.findings.keys()):
            severity, weight, message = new.findings[rule_id]
            change.new_findings.append({"rule_id": rule_id, "severity": severity, "weight": weight,
                                        "message": message})
            if weight < 0 and _SEVERITY_RANK.get(severity, 0) >= _SEVERITY_RANK[RED_FLAG_MIN]:
                change.new_red_flags.append(rule_id)
        change.gone_findings = sorted(old.findings.keys() - new.findings.keys())
        if new.verdict == Verdict.unreachable.value and old.verdict != Verdict.unreachable.value:
            change.change = "unreachable"
            change.after = f"unreachable ({new.error_kind or 'unknown'})"
        elif new.verdict != old.verdict:
            change.change = "verdict"
        elif new.score is not None and old.score is not None and abs(new.score - old.score) >= score_threshold:
            change.change = "score"
        elif change.new_findings or change.gone_findings:
            change.change = "findings"
        else:
            continue
        changes.append(change)
    return RunDiff(run_a, run_b, len(a), len(b), score_threshold, changes)


# --- output -----------------------------------------------------------------------------

_LABELS = {"new": "new site", "vanished": "vanished", "verdict": "verdict changed", "unreachable": "became unreachable",
           "score": "score moved", "findings": "findings changed"}


def label_of(change: str) -> str:
    return _LABELS[change]


def describe_counts(diff: RunDiff) -> str:
    counts = ", ".join(f"{_LABELS[k]} {n}" for k, n in sorted(diff.counts().items()))
    return (f"runs {diff.run_a} -> {diff.run_b}: {diff.sites_a} -> {diff.sites_b} sites, {len(diff.changes)} changed"
            + (f": {counts}" if counts else ""))


def scored(verdict: str, score: int | None) -> str:
    return f"{verdict} ({score})" if score is not None else verdict


def change_rows(diff: RunDiff, limit: int) -> dict[str, Any]:
    """The first `limit` changes described in words, for a report to lay out (HTML)."""
    rows = [{"url": c.url, "label": label_of(c.change),
             "before": "" if c.change == "new" else scored(c.before, c.score_before),
             "after": "" if c.change == "vanished" else scored(c.after, c.score_after),
             "red_flags": c.new_red_flags,
             "findings": [f["rule_id"] for f in c.new_findings if f["rule_id"] not in c.new_red_flags]}
            for c in diff.changes[:limit]]
    return {"run_a": diff.run_a, "run_b": diff.run_b, "rows": rows, "more": max(0, len(diff.changes) - limit),
            "summary": describe_counts(diff)}


def render_text(diff: RunDiff) -> str:
    lines = [describe_counts(diff)]
    for c in diff.changes:
        if c.change == "new":
            head = scored(c.after, c.score_after)
        elif c.change == "vanished":
            head = "was " + scored(c.before, c.score_before)
        else:
            head = f"{scored(c.before, c.score_before)} -> {scored(c.after, c.score_after)}"
        lines.append(f"  {_LABELS[c.change]:<19} {c.url}  {head}")
        if c.new_red_flags:
            lines.append(f"      new red flags: {', '.join(c.new_red_flags)}")
        others = [f["rule_id"] for f in c.new_findings if f["rule_id"] not in c.new_red_flags]
        if others:
            lines.append(f"      new findings: {', '.join(others)}")
        if c.gone_findings:
            lines.append(f"      findings gone: {', '.join(c.gone_findings)}")
    return "\n".join(lines) + "\n"


def render_json(diff: RunDiff) -> str:
    return json.dumps({"run_a": diff.run_a, "run_b": diff.run_b, "sites_a": diff.sites_a, "sites_b": diff.sites_b,
                       "score_threshold": diff.score_threshold, "counts": diff.counts(),
                       "changes": [asdict(c) for c in diff.changes]}, indent=2) + "\n"


def render_csv(diff: RunDiff) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["url", "change", "verdict_before", "verdict_after", "score_before", "score_after",
                     "new_red_flags", "new_findings", "gone_findings"])
    for c in diff.changes:
        writer.writerow([csv_safe(c.url), c.change, c.before, c.after,
                         "" if c.score_before is None else c.score_before,
                         "" if c.score_after is None else c.score_after,
                         " ".join(c.new_red_flags), " ".join(f["rule_id"] for f in c.new_findings),
                         " ".join(c.gone_findings)])
    return buf.getvalue()


RENDERERS = {"text": render_text, "json": render_json, "csv": render_csv}
