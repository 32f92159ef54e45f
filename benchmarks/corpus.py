"""Turn a labelled corpus folder (`<host>/pages/<path>.html`, see shared/corpus/README.md)
into one WARC per site, so the checker can replay it exactly as it replays a real capture."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pharmcheck.fetch.pagedir import write_warc

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "dev"


@dataclass
class CorpusSite:
    host: str
    url: str
    label: str
    directory: Path
    language: str = "en"


def load_corpus(root: Path = DEFAULT_CORPUS) -> list[CorpusSite]:
    sites = []
    for site_json in sorted(root.glob("*/site.json")):
        meta = json.loads(site_json.read_text(encoding="utf-8"))
        sites.append(CorpusSite(site_json.parent.name, meta["url"], meta["label"], site_json.parent, meta.get("language", "en")))
    return sites


def url_paths(rel: str) -> list[str]:
    """The URL paths a page file stands for (README: "/faq" or "/faq/" -> faq.html)."""
    if rel == "index.html":
        return ["/"]
    if rel.endswith(".htm"):  # /x.htm keeps its name
        return ["/" + rel]
    stem = rel[: -len(".html")]
    last = stem.rsplit("/", 1)[-1]
    if "." in last:  # /x.html, /a.shtml -> kept names
        return ["/" + stem]
    return ["/" + stem, "/" + stem + "/"]


def site_to_warc(site: CorpusSite, out: Path) -> Path:
    base = site.url.rstrip("/")
    pages_dir = site.directory / "pages"
    pages = [
        (base + path, page.read_bytes(), "text/html; charset=utf-8")
        for page in sorted(p for p in pages_dir.rglob("*") if p.suffix in (".html", ".htm"))
        for path in url_paths(page.relative_to(pages_dir).as_posix())
    ]
    return write_warc(out, pages)
