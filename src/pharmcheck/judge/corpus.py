"""Labelled corpus folders (`<host>/site.json` + `<host>/pages/<path>.html`, layout in the
shared corpus README) replayed through the checker, for fitting and cross-validation.

This sits above `check` (it crawls): prediction never needs it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pharmcheck.check import CheckContext, crawl
from pharmcheck.errors import UsageError
from pharmcheck.fetch import ArchiveIndex
from pharmcheck.fetch.pagedir import write_warc
from pharmcheck.models import FetchOptions, Finding, SiteFacts
from pharmcheck.rules import evaluate
from pharmcheck.ruleset import RuleSet
from pharmcheck.score import Score, score_site

LABELS = ("legitimate", "rogue", "not_pharmacy")


@dataclass
class CorpusSite:
    host: str
    url: str
    label: str
    directory: Path
    language: str = "en"


@dataclass
class SiteEvidence:
    """A labelled site as the rules saw it: what fitting and judging start from."""

    site: CorpusSite
    facts: SiteFacts
    findings: list[Finding]
    score: Score  # the hand-set scoring's result


def load_corpus(root: Path) -> list[CorpusSite]:
    """The sites of one corpus folder, sorted by host; [] if there are none."""
    sites = []
    for site_json in sorted(root.glob("*/site.json")):
        meta = json.loads(site_json.read_text(encoding="utf-8"))
        sites.append(CorpusSite(site_json.parent.name, meta["url"], meta["label"], site_json.parent,
                                str(meta.get("language") or "en")))
    return sites


def load_labelled(roots: Iterable[Path]) -> list[CorpusSite]:
    """Sites of several corpus folders; UsageError for a folder without sites or a bad label."""
    sites: list[CorpusSite] = []
    for root in roots:
        if not root.is_dir():
            raise UsageError(f"{root}: not a corpus folder")
        try:
            found = load_corpus(root)
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"{root}: unreadable site.json: {exc}") from exc
        if not found:
            raise UsageError(f"{root}: no <host>/site.json in it (see the corpus layout in the README)")
        for s in found:
            if s.label not in LABELS:
                raise UsageError(f"{s.directory / 'site.json'}: label {s.label!r} is not one of {', '.join(LABELS)}")
        sites.extend(found)
    return sites


def url_paths(rel: str) -> list[str]:
    """The URL paths a page file stands for: "/faq" or "/faq/" -> faq.html; a path that ends
    in .html or .htm keeps its name ("/terms.html" -> terms.html, "/faq.htm" -> faq.htm);
    another extension gets .html appended ("/law.shtml" -> law.shtml.html)."""
    if rel == "index.html":
        return ["/"]
    if rel.endswith(".htm"):
        return ["/" + rel]
    stem = rel[: -len(".html")]
    last = stem.rsplit("/", 1)[-1]
    if "." in last:  # /a.shtml -> a.shtml.html
        return ["/" + stem]
    return ["/" + stem, "/" + stem + "/", "/" + rel]


def site_to_warc(site: CorpusSite, out: Path) -> Path:
    base = site.url.rstrip("/")
    pages_dir = site.directory / "pages"
    files = sorted(p for p in pages_dir.rglob("*") if p.is_file() and p.suffix in (".html", ".htm"))
    pages = [
        (base + path, page.read_bytes(), "text/html; charset=utf-8")
        for page in files
        for path in url_paths(page.relative_to(pages_dir).as_posix())
    ]
    return write_warc(out, pages)


def collect(sites: Iterable[CorpusSite], ruleset: RuleSet, options: FetchOptions | None = None) -> list[SiteEvidence]:
    """Replay every site offline and run the rules on it."""
    out = []
    with tempfile.TemporaryDirectory(prefix="pharmcheck-corpus-") as tmp:
        for site in sites:
            warc = site_to_warc(site, Path(tmp) / f"{site.host}.warc.gz")
            ctx = CheckContext(ruleset=ruleset, options=options or FetchOptions(), archive=ArchiveIndex(warc))
            facts, _infos, _errors = crawl(site.url, ctx)
            findings = evaluate(ruleset.rules, facts)
            out.append(SiteEvidence(site, facts, findings, score_site(findings, ruleset.scoring, assessed=bool(facts.pages))))
    return out
