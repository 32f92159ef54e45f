"""Extract stage: one parse per page (lxml), into a `PageFacts` the rules can read.

lxml is used directly because it is the hot path: on a 150 KB listing page building a
BeautifulSoup tree costs ~35 ms, lxml's parse ~2 ms (see benchmarks/analysis.py).
bs4 is only used to guess the encoding of bytes that declare none that works.

The same pass gathers what networks/ later compares across sites: the page's identifiers
(extract/identifiers.py) and its template shingles (extract/template.py).
"""

from __future__ import annotations

import codecs
import json
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import re2
from lxml import etree

from pharmcheck.extract.identifiers import page_identifiers
from pharmcheck.extract.template import page_shingles
from pharmcheck.language import detect_language
from pharmcheck.models import (
    DrugLexicon,
    DrugMention,
    Form,
    Image,
    Link,
    PageFacts,
    Price,
    Response,
)
from pharmcheck.urls import origin_of

# Caps per page: a hostile page with 100,000 links must not make every later stage slow.
MAX_LINKS = 3000
MAX_IMAGES = 1000
MAX_FORMS = 50
MAX_PRICES = 50  # rules count prices and quote a few; a listing page has hundreds
MAX_JSONLD_BYTES = 200_000
# Per page: JSON-LD items kept and script bytes parsed in all (a page of tens of thousands of
# JSON-LD blocks once held the analysis for many seconds).
MAX_JSONLD_ITEMS = 200
MAX_JSONLD_TOTAL_BYTES = 1_000_000
MAX_TEXT_CHARS = 400_000
_MAX_LINK_DEPTH = 30

_BLOCK_TAGS = (
    "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "br", "h1", "h2", "h3", "h4", "h5", "h6",
    "section", "article", "header", "footer", "nav", "main", "aside", "blockquote", "form", "dd", "dt",
    "title", "option", "button", "label", "figcaption", "address", "pre",
)  # fmt: skip
_DROP_TAGS = ("script", "style", "noscript", "template", "svg", "head")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([a-zA-Z0-9_\-:.]+)", re.I)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_EMAIL = re.compile(r"\b[a-zA-Z0-9._%+-]{1,64}@[a-zA-Z0-9.-]{1,190}\.[a-zA-Z]{2,24}\b")
# 9 to 15 digits with at most two separators between them, on one line (a rating next to
# a review count, or block breaks between numbers, are not a phone number).
_PHONE = re.compile(r"(?<![\w/.-])(?:\+|00)?\(?\d(?:[ \t\u00a0().-]{0,2}\d){8,14}(?![\w/-])")
# Nine or more digits close together: what every phone number has (RE2: linear, no look-arounds).
_PHONE_DIGITS = re2.compile(r"\d(?:[ \t\x{a0}().-]{0,2}\d){8,14}")
_CURRENCY_SIGNS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "C$": "CAD", "A$": "AUD", "CA$": "CAD"}
_PRICE = re.compile(
    r"(?P<sym>CA\$|C\$|A\$|[$€£¥₹])\s?(?P<a>\d{1,6}(?:[.,]\d{3})*(?:[.,]\d{1,2})?)"
    r"|(?P<b>\d{1,6}(?:[.,]\d{3})*(?:[.,]\d{1,2})?)\s?(?P<code>USD|EUR|GBP|CAD|AUD|INR|CHF|€|£)\b",
)
_TOKEN = re.compile(r"[a-z0-9]+")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# Labels browsers refuse (UTF-7 smuggles markup past filters) or that mean "not text".
_REFUSED_ENCODINGS = frozenset({"utf-7", "utf7", "x-user-defined", "replacement"})
_XML_DECL = re.compile(r"^\s*\ufeff?\s*<\?xml[^>]*\?>")
# Container tags that hostile pages nest by the thousand; dropping them keeps text and links.
_NESTING_TAG = re.compile(
    r"</?(?:div|span|section|article|aside|main|nav|header|footer|font|b|i|u|s|em|strong|small|big|"
    r"center|blockquote|ul|ol|li|dl|dd|dt|table|tbody|thead|tfoot|tr|td|th|fieldset|label|sub|sup|"
    r"code|pre|q|cite|abbr|mark|del|ins|details|summary|figure|figcaption|object|iframe)\b[^>]*>",
    re.I,
)


# Bytes that are not [a-z0-9] -> space: the words of a lower-cased text are then one C-level
# translate and split of its UTF-8 bytes (non-ASCII characters encode to bytes >= 0x80, which
# separate words as they do for the [a-z0-9]+ regex), ~2.5x faster than `findall` on a page.
_NOT_WORD_CHARS = bytes(c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))


def word_set(lowered: str) -> frozenset[str]:
    """The [a-z0-9]+ runs of an already lower-cased text, as a set."""
    # Each distinct line once: no word spans a line break, and pages repeat their lines (a
    # listing's "Prescription only", boilerplate paragraphs), whose words would be split out
    # again and again only to be dropped by the set (a page of text in 25-85% of the time).
    if "\n" in lowered:
        lowered = "\n".join(dict.fromkeys(lowered.split("\n")))
    return frozenset(lowered.encode("utf-8", "surrogatepass").translate(_NOT_WORD_CHARS).decode("ascii").split())


class DrugIndex:
    """Finds drug names from the lexicon in page text by token lookup (one pass, any size list)."""

    def __init__(self, lexicon: DrugLexicon) -> None:
        self.first: dict[str, list[tuple[tuple[str, ...], str, str, str]]] = {}
        for entry in lexicon.drugs:
            for name in [entry.name, *entry.synonyms]:
                tokens = tuple(_TOKEN.findall(name.lower()))
                if tokens:
                    self.first.setdefault(tokens[0], []).append((tokens, entry.name, entry.schedule, entry.category))
        for options in self.first.values():
            options.sort(key=lambda o: -len(o[0]))  # longest name first: "xanax xr" before "xanax"

    @property
    def words(self) -> frozenset[str]:
        return frozenset(self.first)

    def find(self, text: str, words: frozenset[str] | None = None) -> list[DrugMention]:
        """Drugs named in `text` (whose words may be given), each once, in order of first mention."""
        lower = text.lower()
        if words is None:
            words = word_set(lower)
        hits = words.intersection(self.first)  # usually a handful: only these are looked at further
        if not hits:
            return []
        found: dict[str, tuple[int, DrugMention]] = {}
        for word in hits:
            for name_tokens, canonical, schedule, category in self.first[word]:
                if len(name_tokens) == 1:
                    at = _first_word(lower, word)
                else:
                    if not words.issuperset(name_tokens):
                        continue
                    m = re.search(r"(?<![a-z0-9])" + r"[^a-z0-9]+".join(map(re.escape, name_tokens)) + r"(?![a-z0-9])", lower)
                    at = -1 if m is None else m.start()
                if at < 0:
                    continue
                if canonical not in found or at < found[canonical][0]:
                    found[canonical] = (at, DrugMention(
                        name=canonical, matched=" ".join(name_tokens), schedule=schedule, category=category
                    ))
                break  # longest name first: "xanax xr" wins over "xanax"
        return [mention for _, mention in sorted(found.values(), key=lambda pair: pair[0])]


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _first_word(text: str, word: str) -> int:
    """Where `word` first stands in `text` with no [a-z0-9] either side, or -1 (what the regex
    (?<![a-z0-9])word(?![a-z0-9]) finds, by str.find: no regex to look up and run)."""
    at = text.find(word)
    end = len(word)
    while at >= 0:
        if (at == 0 or text[at - 1] not in _WORD_CHARS) and (at + end >= len(text) or text[at + end] not in _WORD_CHARS):
            return at
        at = text.find(word, at + 1)
    return -1


_EMPTY_INDEX = DrugIndex(DrugLexicon())


def decode_body(body: bytes, content_type: str = "") -> str:
    """Bytes to text, never failing: a byte-order mark wins; then UTF-8 if the bytes are valid
    UTF-8 (legacy-encoded text almost never is, and servers that declare latin-1 for UTF-8
    pages are common); then the header's charset, the <meta> one, and sniffing."""
    for bom, enc in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(enc, errors="replace")
    try:
        # Incremental, so a body cut inside a multi-byte character (truncated) still counts.
        return codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        pass
    candidates: list[str] = []
    m = _HEADER_CHARSET.search(content_type or "")
    if m:
        candidates.append(m.group(1))
    m2 = _META_CHARSET.search(body[:4096])
    if m2:
        candidates.append(m2.group(1).decode("ascii", "replace"))
    for enc in candidates:
        name = _fix_encoding_name(enc)
        if name in _REFUSED_ENCODINGS:
            continue
        try:
            return body.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    from bs4.dammit import UnicodeDammit  # ~0.1 s to import, for the rare page that needs sniffing

    dammit = UnicodeDammit(body[:200_000], is_html=True)
    enc = dammit.original_encoding or "windows-1252"
    if enc.lower() in _REFUSED_ENCODINGS:
        enc = "windows-1252"
    try:
        return body.decode(enc, errors="replace")
    except LookupError:
        return body.decode("windows-1252", errors="replace")


def _fix_encoding_name(name: str) -> str:
    name = name.strip().lower()
    # Browsers treat these labels as windows-1252 (WHATWG Encoding); so do we.
    return "windows-1252" if name in ("iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii") else name


_PARSERS = threading.local()  # lxml parsers must not be shared between threads


def _parser() -> etree.HTMLParser:
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        # Plain etree elements: lxml.html's element classes cost a Python lookup per node.
        parser = etree.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=True, recover=True, no_network=True)
        _PARSERS.parser = parser
    return parser


# The end of the body or of the document. libxml2 drops everything after </html> and puts what
# follows </body> beside the body; browsers (HTML5's "after body" modes) show both as more of
# the body, so a page can hold text there that a reader sees and we would not.
_DOCUMENT_END = re.compile(r"</(?:body|html)\s*>", re.I)
# What may follow the end and changes nothing read: space, more end tags, comments.
_INERT_AFTER_END = re.compile(r"(?:\s+|</(?:body|html)\s*>|<!--.*?-->)*", re.I | re.S)


def _without_document_end(text: str) -> str:
    """`text` without its </body> and </html> tags when content follows the first of them
    (libxml2 then closes both at the end of the text, as HTML5 in effect does); else as is."""
    end = _DOCUMENT_END.search(text)
    if end is None:
        return text
    inert = _INERT_AFTER_END.match(text, end.end())  # always matches (maybe nothing)
    return text if inert is not None and inert.end() == len(text) else _DOCUMENT_END.sub("", text)


def parse_html(text: str) -> Any:
    """Parse HTML of any shape (NUL bytes, 100,000 nested tags, content after </html>) without
    recursion or errors."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    text = _without_document_end(text)  # before either parse: the flattened one keeps it too
    root, too_deep = _parse(text)
    if too_deep:
        # libxml2 stops at depth 2048 (huge_tree) and drops all that follows; such pages
        # (rare, hostile) get a second parse with the nesting tags removed.
        flat, _ = _parse(_NESTING_TAG.sub("\n", text))
        root = flat if flat is not None else root
    if root is None:
        root = etree.fromstring("<html><body></body></html>", _parser())
    _break_blocks(root)
    return root


def _break_blocks(root: Any) -> None:
    """A line break at the start and after the end of every block element: the visible text
    then has one line per block, which rules read as sentence breaks."""
    for el in root.iter(*_BLOCK_TAGS):
        tail = el.tail
        text = el.text
        # Where a tail or text is whitespace holding a line break already (pretty-printed
        # markup: "\n  " around blocks), another one changes nothing that is read: the visible
        # text drops the lines that fold to nothing, and every other reader of the tree folds
        # whitespace. The write is skipped there (2/3 of the writes on a listing); only
        # whitespace, so no character the write would have cleaned stays but whitespace.
        try:
            if tail is None or not ("\n" in tail and tail.isspace()):
                el.tail = "\n" + tail if tail else "\n"
            if text and not ("\n" in text and text.isspace()):
                el.text = "\n" + text
        except ValueError:  # lxml reads control characters it refuses to write back
            el.tail = "\n" + _CONTROL_CHARS.sub("", tail or "")
            if text:
                el.text = "\n" + _CONTROL_CHARS.sub("", text)


def _parse(text: str) -> tuple[Any, bool]:
    """(root or None, whether the nesting was too deep)."""
    if not text.strip():
        return None, False
    parser = _parser()
    try:
        root = etree.fromstring(text, parser)
    except ValueError:
        # lxml refuses a str with an XML encoding declaration, or with lone surrogates.
        text = _XML_DECL.sub("", text, count=1).encode("utf-8", "replace").decode("utf-8")
        try:
            root = etree.fromstring(text, parser) if text.strip() else None
        except (etree.ParserError, etree.XMLSyntaxError, ValueError):
            return None, False
    except (etree.ParserError, etree.XMLSyntaxError):
        return None, False
    last = parser.error_log.last_error
    return root, last is not None and "Excessive depth" in (last.message or "")


def extract_page(resp: Response, drugs: DrugIndex | None = None) -> PageFacts:
    """All facts of one HTML page. Never raises on page content."""
    base = resp.final_url or resp.url
    text_html = decode_body(resp.body, resp.content_type)
    return extract_html(text_html, base, drugs, truncated=resp.truncated)


def extract_html(source: str, url: str, drugs: DrugIndex | None = None, truncated: bool = False) -> PageFacts:
    drugs = drugs or _EMPTY_INDEX
    root = parse_html(source)
    base = _base_href(root, url)
    jsonld = list(_jsonld(root))
    title_el = root.find(".//title")
    title = _fold("".join(title_el.itertext())) if title_el is not None else ""
    # href -> absolute URL, each resolved once for the page: an image's link is the href of
    # the <a> around it, which _links has resolved already.
    resolved: dict[str, str | None] = {}
    links = _links(root, base, resolved)
    images = _images(root, base, resolved)
    forms = _forms(root, base)
    text = _visible_text(root)
    found = {m.group(0).lower() for m in _EMAIL.finditer(text)} if "@" in text else set()
    emails = sorted(found | _mailtos(links))
    # Link addresses name drugs too (product slugs): each once (cards link twice), and the
    # site's own ones without their repeated scheme and host.
    origin = origin_of(base)
    paths = dict.fromkeys(link.url[len(origin) :] if link.url.startswith(origin) else link.url for link in links[:500])
    searchable = title + "\n" + text + "\n" + " ".join(paths)
    words = word_set(searchable.lower())
    phones = _phones(text)
    html_el = root if root.tag == "html" else root.find(".//html")
    declared = html_el.get("lang", "") if html_el is not None else ""
    # Built without validation: every value is made above with its field's type (mypy holds
    # them to it), and validating rebuilt the shingle and word sets of every page.
    return PageFacts.model_construct(
        url=url,
        title=title[:500],
        text=text,
        links=links,
        images=images,
        forms=forms,
        emails=emails[:50],
        phones=phones,
        prices=_prices(text),
        drugs=drugs.find(searchable, words),
        jsonld=jsonld,
        truncated=truncated,
        identifiers=page_identifiers(source, url, emails, phones, links),
        shingles=page_shingles(root, text, title),
        words=words,
        language=detect_language(f"{title}\n{text}", declared),
    )


def _base_href(root: Any, url: str) -> str:
    base = root.find(".//base[@href]")
    if base is not None:
        try:
            return urljoin(url, base.get("href").strip())
        except ValueError:
            return url
    return url


def _absolute(href: str, base: str, origin: str) -> str | None:
    """An absolute http(s) URL (or mailto:/tel:) for an href; None for fragments and scripts."""
    href = href.strip()
    if not href:
        return None
    first = href[0]
    if first == "/" and not href.startswith("//"):
        return origin + href  # the common case: a root-relative link
    if first == "#":
        return None
    low = href[:11].lower()
    if low.startswith(("http://", "https://")):
        return href
    if low.startswith(("javascript:", "data:", "about:")):
        return None
    if low.startswith(("mailto:", "tel:")):
        return href
    try:
        return urljoin(base, href)
    except ValueError:
        return None


_UNRESOLVED = "\x00"  # an href not resolved yet (no URL or None is this)


def _fold(text: str) -> str:
    return " ".join(text.split())


def _links(root: Any, base: str, resolved: dict[str, str | None]) -> list[Link]:
    origin = origin_of(base)
    out: list[Link] = []
    append = out.append
    # Listings link each product twice (picture and name): each href is resolved once.
    for el in root.iter("a", "area"):
        href = el.get("href")
        if href is None:
            continue
        url = resolved.get(href, _UNRESOLVED)
        if url is _UNRESOLVED:
            url = resolved[href] = _absolute(href, base, origin)
        if url is None:
            continue
        children = len(el)
        if children:
            # A picture link (<a><img></a>) has no text at all: one C call says so, instead
            # of joining what itertext yields.
            inner = etree.tostring(el, method="text", encoding=str, with_tail=False)
            text = " ".join(" ".join(el.itertext()).split())[:200] if inner and not inner.isspace() else ""
        else:  # most links are one text node
            raw = el.text
            text = " ".join(raw.split())[:200] if raw else ""
        if not text:
            label = el.get("title") or el.get("aria-label")
            if not label and children:
                # The alt texts of the pictures inside. A picture link's one <img> is all
                # el.iter("img") would yield: read directly, without building a tag-matching
                # iterator and a generator for it (~1/4 of _links on a listing).
                first = el[0] if children == 1 else None
                if first is not None and first.tag == "img" and not len(first):
                    label = first.get("alt")
                else:
                    label = " ".join(img.get("alt") or "" for img in el.iter("img"))
            text = _fold(label)[:200] if label else ""
        append(Link(url[:2000], text))
        if len(out) >= MAX_LINKS:
            break
    return out


def _mailtos(links: list[Link]) -> set[str]:
    return {link.url[7:].split("?", 1)[0].lower() for link in links if link.url[:7].lower() == "mailto:"}


def _images(root: Any, base: str, resolved: dict[str, str | None]) -> list[Image]:
    origin = origin_of(base)
    out: list[Image] = []
    append = out.append

    def absolute(href: str) -> str | None:
        url = resolved.get(href, _UNRESOLVED)
        if url is _UNRESOLVED:
            url = resolved[href] = _absolute(href, base, origin)
        return url

    for el in root.iter("img"):
        src = el.get("src") or el.get("data-src") or ""
        src_abs = absolute(src) or src.strip()
        link = None
        parent = el.getparent()
        if parent is not None and parent.tag == "a":  # the usual case: <a><img></a>
            link = absolute(parent.get("href") or "")
        else:
            # A few levels up is where an enclosing <a> is; walking 100,000 nested divs per image is not.
            for depth, anc in enumerate(el.iterancestors()):
                if anc.tag == "a":
                    link = absolute(anc.get("href") or "")
                    break
                if depth >= _MAX_LINK_DEPTH:
                    break
        alt = el.get("alt")
        title = el.get("title")
        append(Image(src_abs[:2000], " ".join(alt.split())[:300] if alt else "",
                     " ".join(title.split())[:300] if title else "", link))
        if len(out) >= MAX_IMAGES:
            break
    return out


def _forms(root: Any, base: str) -> list[Form]:
    origin = origin_of(base)
    out: list[Form] = []
    for el in root.iter("form"):
        fields: list[str] = []
        upload = False
        for field in el.iter("input", "select", "textarea"):
            ftype = (field.get("type") or field.tag).lower()
            upload = upload or ftype == "file"
            name = field.get("name") or field.get("id") or ""
            fields.append(f"{name}:{ftype}"[:100])
        action = _absolute(el.get("action") or "", base, origin) or base
        out.append(Form(action=action[:2000], method=(el.get("method") or "get").lower()[:10], fields=tuple(fields[:100]), file_upload=upload))
        if len(out) >= MAX_FORMS:
            break
    return out


def _jsonld(root: Any) -> Iterator[dict[str, Any]]:
    items, parsed = 0, 0
    for el in root.iter("script"):
        if (el.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = (el.text or "")[:MAX_JSONLD_BYTES]
        parsed += len(raw)
        if parsed > MAX_JSONLD_TOTAL_BYTES:
            return
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        for item in _flatten_jsonld(data, depth=0):
            yield item
            items += 1
            if items >= MAX_JSONLD_ITEMS:
                return


def _flatten_jsonld(data: Any, depth: int) -> Iterator[dict[str, Any]]:
    if depth > 4:
        return
    if isinstance(data, list):
        for item in data[:100]:
            yield from _flatten_jsonld(item, depth + 1)
    elif isinstance(data, dict):
        graph = data.get("@graph")
        if isinstance(graph, list):
            yield from _flatten_jsonld(graph, depth + 1)
        else:
            yield data


def _visible_text(root: Any) -> str:
    """Visible text with one line per block element (rules use lines as sentence breaks)."""
    etree.strip_elements(root, *_DROP_TAGS, with_tail=False)
    body = root.find("body")
    raw = etree.tostring(body if body is not None else root, method="text", encoding=str)
    if "\u200b" in raw:
        raw = raw.replace("\u200b", "")
    # Each distinct line folded once: most lines are empty (block breaks in a row) and pages
    # repeat the others (a listing's cards, boilerplate); lines that fold to "" are dropped.
    lines = raw.splitlines()
    folded = {line: " ".join(line.split()) for line in set(lines)}
    return "\n".join(filter(None, map(folded.__getitem__, lines)))[:MAX_TEXT_CHARS]


def _phones(text: str) -> list[str]:
    out: list[str] = []
    # One linear RE2 pass (most pages carry no phone number at all), over the UTF-8 bytes:
    # only whether it matches counts, and re2 would count characters up to the match.
    if _PHONE_DIGITS.search(text.encode("utf-8", "replace")) is None:
        return out
    for m in _PHONE.finditer(text):
        candidate = m.group(0).strip()
        digits = sum(c.isdigit() for c in candidate)
        if 9 <= digits <= 15 and not re.fullmatch(r"[\d.,]+", candidate) and candidate not in out:
            out.append(candidate)
            if len(out) >= 20:
                break
    return out


# Every price names its currency by one of these: text without any has no price to look for
# (a page of prose is then not scanned by _PRICE, ~1 ms on 30 KB). One RE2 pass over the
# UTF-8 bytes finds any of them ~3x faster than twelve `in` tests.
_CURRENCY_MARK = re2.compile("[$€£¥₹]|USD|EUR|GBP|CAD|AUD|INR|CHF")
_PRICE_REACH = 40  # digits and separators looked back over from a mark (a price's number is shorter)
_PRICE_MARKS_TRIED = 500  # marks looked at one by one (a listing's 50 prices have ~100)


def _prices(text: str) -> list[Price]:
    out: list[Price] = []
    encoded = text.encode("utf-8", "surrogatepass")
    if _CURRENCY_MARK.search(encoded) is None:
        return out
    for m in _price_matches(text, encoded):
        raw = m.group("a") or m.group("b") or ""
        symbol = m.group("sym") or m.group("code") or ""
        currency = _CURRENCY_SIGNS.get(symbol, symbol)
        amount = _amount(raw)
        if amount is None:
            continue
        out.append(Price(amount=amount, currency=currency, text=m.group(0)))
        if len(out) >= MAX_PRICES:
            break
    return out


def _price_matches(text: str, encoded: bytes) -> Iterator[re.Match[str]]:
    """_PRICE.finditer(text), tried only next to the currency marks RE2 finds: every price
    holds one (its symbol, or the code after its number), so the leftmost price from any
    point starts at most at the number run before the next mark (or two characters before a
    "$", for "CA$"), and each is found by trying _PRICE.match at the few places from there to
    the mark. Python's re, scanning a listing's text for 50 prices, tries both of _PRICE's
    alternatives at every character (~45 ns each). `encoded`: the text in UTF-8 (surrogates
    passed), where RE2 finds the marks; their byte offsets are counted into characters."""
    ascii_only = len(encoded) == len(text)
    byte_at = char_at = 0  # a byte offset into `encoded` and the character offset it is at
    end = 0  # where the last price ended: the next one starts there or later
    match = _PRICE.match
    for tried, mark in enumerate(_CURRENCY_MARK.finditer(encoded)):
        if tried >= _PRICE_MARKS_TRIED:  # a page of marks that are no prices: scanned from here on
            yield from _PRICE.finditer(text, end)
            return
        at = mark.start()
        if not ascii_only:  # a mark starts a character: the bytes before it decode whole
            char_at += len(encoded[byte_at:at].decode("utf-8", "surrogatepass"))
            byte_at, at = at, char_at
        if at < end:
            continue  # inside the last price
        first = at
        if first > end and text[first - 1].isspace():
            first -= 1  # the one space _PRICE allows between a number and its code
        while first > end and (text[first - 1].isdecimal() or text[first - 1] in ".,"):
            first -= 1
            if at - first > _PRICE_REACH:  # a long run of digits: scanned from here on, as before
                yield from _PRICE.finditer(text, end)
                return
        for start in range(max(end, min(first, at - 2)), at + 1):
            m = match(text, start)
            if m is not None:
                yield m
                end = m.end()
                break


def _amount(raw: str) -> float | None:
    if "," in raw and "." in raw:
        raw = raw.replace(",", "") if raw.rfind(".") > raw.rfind(",") else raw.replace(".", "").replace(",", ".")
    elif "," in raw:
        head, _, tail = raw.rpartition(",")
        raw = head.replace(",", "") + ("." + tail if len(tail) == 2 else tail)
    try:
        return float(raw)
    except ValueError:
        return None
