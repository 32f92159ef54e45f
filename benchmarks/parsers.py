"""lxml (what extract_page parses with) against selectolax's Lexbor, on what extraction takes.

    python benchmarks/parsers.py [--runs N]

Extraction is ~3.4x the lxml parse of a 150 KB listing, and the parse itself is a third of
it: a faster parser is the one lever left that moves both. This measures whether Lexbor (an
HTML5 parser in C, through selectolax) is that lever before any code depends on it:

- the CPU medians, per page, of the parse alone and of the parse plus everything extraction
  takes from the tree, taken the same way from each tree: links with their text (or title,
  aria-label, the alt of the pictures inside), images with their enclosing link, forms and
  their fields, the visible text one line per block (script, style, noscript, template, svg
  and head dropped), and the DOM paths of the first 1,000 elements (extract/template.py);
- how much of what Lexbor's tree yields is what extract_page yields from lxml's, page by page
  (links, images and forms as lists; text as its lines; DOM paths as a set): a parser switch
  is worth its speed only where the facts, and so the reports, stay the same.

Pages: the listing and doorway pages of benchmarks/analysis.py, the five pages of
benchmarks/audit_throughput.py, a few made-up fragments of malformed markup, the bundled
example sites (examples/sites) and, when it is beside the checkout, every page of the shared
corpus (real sites' text in minimal HTML).
Needs the bench extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from analysis import doorway_page, listing_page, measure
from audit_throughput import PAGES as AUDIT_PAGES
from corpus import SHARED_CORPUS
from pharmcheck.extract import (
    _BLOCK_TAGS,
    _DROP_TAGS,
    _MAX_LINK_DEPTH,
    MAX_FORMS,
    MAX_IMAGES,
    MAX_LINKS,
    MAX_TEXT_CHARS,
    _absolute,
    _base_href,
    _fold,
    _forms,
    _images,
    _links,
    _parse,
    _visible_text,
    decode_body,
    parse_html,
)
from pharmcheck.extract.template import MAX_ELEMENTS, _dom_shingles
from pharmcheck.models import Form, Image, Link
from pharmcheck.urls import origin_of

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "sites"
# Markup that parsers repair differently (libxml2's HTML parser against the HTML5 tree
# builder): misnested inline tags, text and links inside a table, a block inside a link,
# nested forms, unclosed items, text after the end of the document. Rogue pages are written
# like this as often as not.
MALFORMED = {
    "misnested": "<p>Buy <b>cheap <i>pills</b> online</i> today</p><p>Next line",
    "table text": "<table>Stray text<tr><td>Cell <a href='/a'>one</a></td>after cell<td>two</table>",
    "block in link": "<a href='/offer'><div>No prescription</div><p>needed</p></a><a href='/b'>b</a>",
    "nested forms": "<form action='/a'><input name=q><form action='/b'><input name=r type=file></form></form>",
    "unclosed items": "<ul><li>Viagra<li>Cialis<li><a href='/x'>Xanax</ul><div>after",
    "after html": "<html><body><p>Inside</p></body></html><p>Outside <a href='/late'>late link</a></p>",
    "stray closers": "</div></span><h2>Title</h2></p></p><div><span>text</div><img src=/i.png alt='a pill'>",
    "no body": "<title>T</title><a href=/one>one</a><img src=/p.png><p>text",
}
_BLOCKS = ",".join(_BLOCK_TAGS)


def lexbor_links(tree: LexborHTMLParser, base: str) -> list[Link]:
    origin = origin_of(base)
    out: list[Link] = []
    for el in tree.css("a[href], area[href]"):
        url = _absolute(el.attributes.get("href") or "", base, origin)
        if url is None:
            continue
        text = _fold(el.text(deep=True, separator=" "))[:200]
        if not text:
            label = el.attributes.get("title") or el.attributes.get("aria-label")
            if not label:
                label = " ".join(img.attributes.get("alt") or "" for img in el.css("img"))
            text = _fold(label)[:200] if label else ""
        out.append(Link(url[:2000], text))
        if len(out) >= MAX_LINKS:
            break
    return out


def _enclosing_link(el: LexborNode) -> LexborNode | None:
    node = el.parent
    for _ in range(_MAX_LINK_DEPTH + 1):
        if node is None:
            return None
        if node.tag == "a":
            return node
        node = node.parent
    return None


def lexbor_images(tree: LexborHTMLParser, base: str) -> list[Image]:
    origin = origin_of(base)
    out: list[Image] = []
    for el in tree.css("img"):
        attrs = el.attributes
        src = attrs.get("src") or attrs.get("data-src") or ""
        src_abs = _absolute(src, base, origin) or src.strip()
        anchor = _enclosing_link(el)
        link = _absolute(anchor.attributes.get("href") or "", base, origin) if anchor is not None else None
        alt, title = attrs.get("alt"), attrs.get("title")
        out.append(Image(src_abs[:2000], _fold(alt)[:300] if alt else "", _fold(title)[:300] if title else "", link))
        if len(out) >= MAX_IMAGES:
            break
    return out


def lexbor_forms(tree: LexborHTMLParser, base: str) -> list[Form]:
    origin = origin_of(base)
    out: list[Form] = []
    for el in tree.css("form"):
        fields: list[str] = []
        upload = False
        for field in el.css("input, select, textarea"):
            attrs = field.attributes
            ftype = (attrs.get("type") or field.tag or "").lower()
            upload = upload or ftype == "file"
            fields.append(f"{attrs.get('name') or attrs.get('id') or ''}:{ftype}"[:100])
        attrs = el.attributes
        action = _absolute(attrs.get("action") or "", base, origin) or base
        out.append(Form(action=action[:2000], method=(attrs.get("method") or "get").lower()[:10],
                        fields=tuple(fields[:100]), file_upload=upload))
        if len(out) >= MAX_FORMS:
            break
    return out


def lexbor_text(tree: LexborHTMLParser) -> str:
    """The visible text as _visible_text makes it: a line break before and after every block
    element (text nodes inserted into the tree), the dropped tags removed, lines folded."""
    for el in tree.css(_BLOCKS):
        el.insert_before("\n")
        el.insert_after("\n")
    tree.strip_tags(list(_DROP_TAGS))
    top = tree.body if tree.body is not None else tree.root
    raw = top.text(deep=True).replace("\u200b", "") if top is not None else ""
    lines = raw.splitlines()
    folded = {line: " ".join(line.split()) for line in set(lines)}
    return "\n".join(filter(None, map(folded.__getitem__, lines)))[:MAX_TEXT_CHARS]


def lexbor_dom_shingles(tree: LexborHTMLParser) -> set[str]:
    """extract/template.py's DOM paths (grandparent > parent > element, "tag.class") of the
    first MAX_ELEMENTS elements, walked on Lexbor's tree (parents looked up by node id)."""
    root = tree.root
    found: set[str] = set()
    if root is None:
        return found
    paths: dict[int, tuple[str, str]] = {}  # node id -> (its label, "parent>label")
    for left, el in enumerate(root.traverse()):
        if left >= MAX_ELEMENTS:
            break
        classes = el.attributes.get("class")
        label = f"{el.tag}.{classes}" if classes else str(el.tag)
        parent = el.parent
        above = paths.get(parent.mem_id) if parent is not None else None
        if above is None:
            path = label
            paths[el.mem_id] = (label, label)
        else:
            path = above[1] + ">" + label
            paths[el.mem_id] = (label, above[0] + ">" + label)
        found.add("d:" + path)
    return found


def lexbor_take(source: str, base: str) -> dict[str, Any]:
    tree = LexborHTMLParser(source)
    links, images, forms = lexbor_links(tree, base), lexbor_images(tree, base), lexbor_forms(tree, base)
    text = lexbor_text(tree)  # as extract_html: DOM paths after the dropped tags (head too) are gone
    return {"links": links, "images": images, "forms": forms, "text": text, "dom": lexbor_dom_shingles(tree)}


def _lxml_parse(source: str, _url: str) -> object:
    return _parse(source)


def _lexbor_parse(source: str, _url: str) -> object:
    return LexborHTMLParser(source)


def lxml_take(source: str, url: str) -> dict[str, Any]:
    """The same facts as extract_html takes them from lxml's tree (its code, in its order)."""
    root = parse_html(source)
    base = _base_href(root, url)
    resolved: dict[str, str | None] = {}
    links, images, forms = _links(root, base, resolved), _images(root, base, resolved), _forms(root, base)
    text = _visible_text(root)
    return {"links": links, "images": images, "forms": forms, "text": text, "dom": _dom_shingles(root)}


def pages() -> Iterator[tuple[str, str, str]]:
    """(group, URL, decoded HTML) of every page measured or compared."""
    yield "listing", "https://pharmacy.example/medicines/", decode_body(listing_page(), "text/html; charset=utf-8")
    yield "doorway", "https://doorway.example/", decode_body(doorway_page(), "text/html; charset=utf-8")
    for path, body in AUDIT_PAGES.items():
        yield "audit benchmark", f"http://riverside.example{path}", decode_body(body, "text/html; charset=utf-8")
    for name, markup in MALFORMED.items():
        yield "malformed", f"https://malformed.example/{name.replace(' ', '-')}", markup
    for group, folder in (("examples", EXAMPLES), ("corpus", SHARED_CORPUS)):
        for file in sorted(folder.rglob("*.html")) if folder.is_dir() else []:
            relative = file.relative_to(folder).parts
            # examples/sites/HOST/path.html; corpus/SET/HOST/pages/path.html
            host = relative[0] if group == "examples" else relative[1]
            path = "/".join(p for p in relative[1 if group == "examples" else 3 :])
            yield group, f"https://{host}/{path}", decode_body(file.read_bytes(), "text/html")


def cpu_ms(fn: Callable[[], object], runs: int) -> float:
    """Median CPU milliseconds of `fn` (analysis.py's measure: a warm-up, then `runs` calls)."""
    return statistics.median(measure(fn, runs))


def _on_every_page(step: Callable[[str, str], object], batch: list[tuple[str, str]]) -> Callable[[], None]:
    """One call of `step(source, url)` on each (url, source) page of `batch`."""
    def run() -> None:
        for url, source in batch:
            step(source, url)
    return run


def _same_share(ours: list[Any], theirs: list[Any]) -> float:
    """Share of the longer list that both hold (as multisets): 1.0 when they are the same."""
    if not ours and not theirs:
        return 1.0
    common = sum((Counter(map(repr, ours)) & Counter(map(repr, theirs))).values())
    return common / max(len(ours), len(theirs))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def agreement(source: str, base: str) -> dict[str, float]:
    ours, theirs = lxml_take(source, base), lexbor_take(source, base)
    return {
        "links": _same_share(ours["links"], theirs["links"]),
        "images": _same_share(ours["images"], theirs["images"]),
        "forms": _same_share(ours["forms"], theirs["forms"]),
        "text lines": _same_share(ours["text"].splitlines(), theirs["text"].splitlines()),
        "DOM paths": _jaccard(ours["dom"], theirs["dom"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    every = list(pages())
    batches = [(group, [(url, source)]) for group, url, source in every if group in ("listing", "doorway")]
    batches.append(("audit, 5 pages", [(url, source) for group, url, source in every if group == "audit benchmark"]))
    print(f"{'page':<28} {'lxml parse':>10} {'Lexbor':>8} {'ratio':>6}   {'parse+take lxml':>15} {'Lexbor':>8} {'ratio':>6}"
          f"   (CPU ms, medians of {args.runs})")
    for label, batch in batches:
        a, b, c, d = (cpu_ms(_on_every_page(step, batch), args.runs)
                      for step in (_lxml_parse, _lexbor_parse, lxml_take, lexbor_take))
        kb = sum(len(source.encode()) for _url, source in batch) // 1024
        print(f"{label + f' ({kb} KB)':<28} {a:10.2f} {b:8.2f} {b / a:6.2f}   {c:15.2f} {d:8.2f} {d / c:6.2f}")
    print("(parse: the tree alone; parse+take: with links, images, forms, visible text and DOM paths, each")
    print(" parser's block breaks included)")
    print()
    print("agreement of Lexbor's facts with extract_page's (1.00 = the same), page groups:")
    groups: dict[str, list[dict[str, float]]] = {}
    for group, url, source in every:
        groups.setdefault(group, []).append(agreement(source, url))
    kinds = ["links", "images", "forms", "text lines", "DOM paths"]
    print(f"{'group':<18} {'pages':>5} " + " ".join(f"{k:>10}" for k in kinds) + "   (mean; pages all the same)")
    for group, results in groups.items():
        means = [statistics.fmean(r[k] for r in results) for k in kinds]
        same = [sum(r[k] == 1.0 for r in results) for k in kinds]
        print(f"{group:<18} {len(results):5d} " + " ".join(f"{m:10.3f}" for m in means)
              + "   " + " ".join(f"{s}/{len(results)}" for s in same))


if __name__ == "__main__":
    main()
