import random
import re
import zlib
from itertools import islice
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from pharmcheck.extract import (
    DrugIndex,
    _first_word,
    _prices,
    decode_body,
    extract_html,
    extract_page,
    parse_html,
    word_set,
)
from pharmcheck.extract.template import MAX_ELEMENTS, _dom_shingles, _hash_all
from pharmcheck.models import DrugEntry, DrugLexicon, Response

LEXICON = DrugLexicon(
    drugs=[
        DrugEntry(name="alprazolam", schedule="controlled", category="benzodiazepine", synonyms=["xanax", "xanax xr"]),
        DrugEntry(name="sildenafil", schedule="rx", synonyms=["viagra"]),
    ]
)

PAGE = """<html><head><title> Buy   things </title><style>.x{color:red}</style>
<script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"Pharmacy","name":"P"},
{"@type":"AggregateRating","ratingValue":"4.9"}]}</script></head>
<body><nav><a href="/about">About us</a><a href="contact.html">Contact</a><a href="https://other.example/x">Partner</a>
<a href="mailto:Help@Shop.example">Mail</a><a href="javascript:void(0)">JS</a></nav>
<p>Xanax XR 1mg for $39.99, Viagra 4 pills for &pound;12.50. Call +44 20 7946 0000.</p>
<script>document.write("hidden words")</script>
<a href="https://seal.example/verify?d=shop.example"><img src="/seal.png" alt="Certified seal"></a>
<form action="/rx" method="POST"><input type="file" name="prescription"><input name="email" type="email"></form>
</body></html>"""


def test_extract_reads_what_a_visitor_sees() -> None:
    facts = extract_html(PAGE, "https://shop.example/products/index.html", DrugIndex(LEXICON))
    assert facts.title == "Buy things"
    assert "hidden words" not in facts.text and "color:red" not in facts.text
    assert "Xanax XR 1mg for $39.99" in facts.text
    urls = [link.url for link in facts.links]
    assert urls[:3] == ["https://shop.example/about", "https://shop.example/products/contact.html", "https://other.example/x"]
    assert not any(u.startswith("javascript:") for u in urls)
    assert facts.emails == ["help@shop.example"]
    assert facts.phones == ["+44 20 7946 0000"]
    assert [(p.amount, p.currency) for p in facts.prices] == [(39.99, "USD"), (12.5, "GBP")]
    assert {d.name: d.matched for d in facts.drugs} == {"alprazolam": "xanax xr", "sildenafil": "viagra"}
    assert facts.images[0].src == "https://shop.example/seal.png"
    assert facts.images[0].link == "https://seal.example/verify?d=shop.example"
    assert facts.forms[0].file_upload and facts.forms[0].method == "post"
    assert [item["@type"] for item in facts.jsonld] == ["Pharmacy", "AggregateRating"]


def test_blocks_become_lines_so_sentences_do_not_merge() -> None:
    facts = extract_html("<div>No prescription</div><div>needed is a lie</div>", "https://a.example/")
    assert facts.text.splitlines() == ["No prescription", "needed is a lie"]


def test_what_follows_the_end_of_the_body_or_document_is_read_as_a_browser_shows_it() -> None:
    # Browsers show text and links written after </body> or </html> as more of the body;
    # libxml2 alone drops what follows </html> and puts what follows </body> outside it.
    for end in ["</body>", "</html>", "</body></html>\n<!-- cached -->\n", "</BODY >"]:
        page = f"<html><body><p>Licensed pharmacy</p>{end}<p>No prescription needed</p><a href='/buy'>Buy now</a>"
        facts = extract_html(page, "https://a.example/")
        assert facts.text.splitlines() == ["Licensed pharmacy", "No prescription needed", "Buy now"], end
        assert [(link.url, link.text) for link in facts.links] == [("https://a.example/buy", "Buy now")], end
    # A page nested too deep for libxml2 is parsed again flattened: that parse keeps it too.
    deep = "<div>" * 3000 + "deep" + "</div>" * 3000
    facts = extract_html(f"<html><body>{deep}</body></html><p>No prescription needed</p>", "https://a.example/")
    assert facts.text.splitlines() == ["deep", "No prescription needed"]
    # Space, comments and more end tags after the end change nothing.
    plain = "<html><body><p>Licensed pharmacy</p></body></html>"
    for trailer in ["", "\n", "\n<!-- served in 0.1 s -->\n</html>\n", "<!-- unclosed"]:
        assert extract_html(plain + trailer, "https://a.example/").text == "Licensed pharmacy"


def test_charset_from_header_meta_or_sniffing() -> None:
    latin = "Pharmacie générale".encode("latin-1")
    assert decode_body(latin, "text/html; charset=iso-8859-1") == "Pharmacie générale"
    assert "générale" in decode_body(b'<meta charset="windows-1252">' + latin)
    assert decode_body("naïve".encode()) == "naïve"
    assert decode_body(b"\xff\xfe broken \x80 bytes") != ""  # replaced, never fatal


def test_extract_page_uses_the_final_url_as_base() -> None:
    resp = Response(url="https://a.example/", final_url="https://b.example/shop/", content_type="text/html",
                    body=b'<a href="faq">FAQ</a>')
    assert extract_page(resp).links[0].url == "https://b.example/shop/faq"


def test_prices_in_every_currency_mark_are_read_and_prose_has_none() -> None:
    text = "Tablets 12.50 CHF, €3.20, £4.99, CA$10, 7 USD, 450 INR, ¥300 and ₹80. 30 tablets, 2 a day, since 1998."
    assert [(p.amount, p.currency) for p in _prices(text)] == [
        (12.5, "CHF"), (3.2, "EUR"), (4.99, "GBP"), (10.0, "CAD"), (7.0, "USD"), (450.0, "INR"), (300.0, "JPY"), (80.0, "INR")]
    assert _prices("Take 2 tablets a day for 14 days; call 0800 123 456 (24/7).") == []


def test_template_shingles_hash_as_each_shingle_alone_would() -> None:
    shingles = {"d:html>body", "t:ab ç d", "t:\udc80 x y", "t:a\x00b c d"}  # a lone surrogate, and a NUL
    assert _hash_all(shingles) == frozenset(zlib.crc32(s.encode("utf-8", "surrogatepass")) for s in shingles)
    assert _hash_all(shingles - {"t:a\x00b c d"}) == frozenset(zlib.crc32(s.encode("utf-8", "surrogatepass"))
                                                               for s in shingles - {"t:a\x00b c d"})
    assert _hash_all(set()) == frozenset()
    # text runs get their "t:" from the join: as if each were written out whole
    runs = ["ab ç d", "\udc80 x y", "a\x00b c"]
    for dom, text in (({"d:html>body"}, runs), ({"d:html>body"}, runs[:2]), (set(), runs[:2]), (set(), runs[2:])):
        assert _hash_all(dom, text) == frozenset(zlib.crc32(s.encode("utf-8", "surrogatepass"))
                                                 for s in dom | {"t:" + run for run in text})


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["ab", "a", "b", "ba", " ", "-", "é", "1", "ab1", "x", "_"]), max_size=10).map("".join),
       st.sampled_from(["ab", "a", "b1", "x", "ba"]))
def test_a_drug_name_is_found_where_the_word_bounded_regex_finds_it(text: str, word: str) -> None:
    m = re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", text)
    assert _first_word(text, word) == (-1 if m is None else m.start())


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["ab", "a1", "b", "ab\n", "\n", " ", "-", "é", "9", "\u0131", "\udc80", "x\ny", "\r\n"]),
                max_size=12).map("".join))
def test_the_words_of_a_text_are_its_runs_of_letters_and_digits_on_every_line(lowered: str) -> None:
    assert word_set(lowered) == frozenset(re.findall(r"[a-z0-9]+", lowered))


def test_page_facts_cross_a_process_boundary_whole() -> None:
    # The audit hands pages' facts to and from its analysis processes by pickle.
    import pickle

    html = ("<html><head><title>Shop</title></head><body><a href='/faq'>FAQ</a><a href='/p'><img src='/i.png' alt='Pill'></a>"
            "<form action='/rx' method='post'><input type='file' name='scan'></form><p>Pack of 28 for $12.50</p></body></html>")
    facts = extract_html(html, "https://shop.example/")
    assert facts.links and facts.images and facts.forms and facts.prices
    copy = pickle.loads(pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy == facts
    assert (copy.links, copy.images, copy.forms, copy.prices) == (facts.links, facts.images, facts.forms, facts.prices)
    assert copy.words == facts.words and copy.shingles == facts.shingles


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["$", "C$", "CA$", "A$", "USD", "EUR", "CHF", "INR", "1", "12", "1234", "0", ".", ",", " ", "\t",
                                 "\n", "\x1c", "x", "U", "S", "D", "C", "A", "_", "(", "9.99", "1,000", "1.234,56", "EURO", "€", "£",
                                 "¥", "₹", "é", "\u0663", "\u00a0", "\u2003", "\U0001F48A", "\udc80"]),
                max_size=14).map("".join))
def test_prices_are_found_where_the_price_pattern_finds_them(text: str) -> None:
    # Looked for next to each currency mark only: the same prices as scanning the text whole.
    from pharmcheck.extract import _PRICE, _price_matches

    expected = [(m.span(), m.groups()) for m in _PRICE.finditer(text)]
    assert [(m.span(), m.groups()) for m in _price_matches(text, text.encode("utf-8", "surrogatepass"))] == expected


def _dom_shingles_by_parents(root: Any) -> set[str]:
    """The DOM shingles as page_shingles first computed them (the reference _dom_shingles is
    held to): each node of root.iter() looks its parent up in a dict of the paths so far."""
    found: set[str] = set()
    paths: dict[Any, tuple[str, str]] = {}  # element -> (its label, parent label + ">" + its label)
    for el in islice(root.iter(), MAX_ELEMENTS):
        tag = el.tag
        if not isinstance(tag, str):
            continue  # comments, processing instructions
        classes = el.get("class")
        label = f"{tag}.{classes}" if classes else tag
        parent = paths.get(el.getparent())
        if parent is None:
            paths[el] = (label, label)
            found.add("d:" + label)
            continue
        paths[el] = (label, parent[0] + ">" + label)
        found.add(f"d:{parent[1]}>{label}")
    return found


# Tags, class values and text of the generated trees: hostile ones too (control characters,
# non-ASCII, ">" and "." in classes, empty and huge values).
_TAGS = ["div", "p", "a", "span", "li", "ul", "img", "td", "x-y", "\u00e9l"]
_CLASSES = [None, "", "c", "a b", "card > x.y", "\u00e9t\u00e9 \U0001F48A", "t\tab\nnl", "x" * 5000, " ", "d:", "\ufffd"]


def _random_tree(rng: random.Random, nodes: int) -> Any:
    """A tree of `nodes` elements, comments and processing instructions, each under a random
    open element: deep chains, wide levels, and the MAX_ELEMENTS cut falling anywhere."""
    root = etree.Element("html")
    open_elements = [root]
    for _ in range(nodes):
        kind = rng.random()
        parent = open_elements[-1] if rng.random() < 0.6 else rng.choice(open_elements)
        if kind < 0.08:
            parent.append(etree.Comment("c"))
        elif kind < 0.12:
            parent.append(etree.ProcessingInstruction("pi", "x"))
        else:
            el = etree.SubElement(parent, rng.choice([*_TAGS, "{urn:x}rect"]))
            classes = rng.choice(_CLASSES)
            if classes is not None:
                el.set("class", classes)
            open_elements.append(el)
    return root


def test_dom_shingles_are_those_of_the_parent_lookup_walk_on_generated_trees() -> None:
    rng = random.Random(18)
    for nodes in [0, 1, 2, 5, 50, 998, 999, 1000, 1001, 1002, *(rng.randrange(1, 4000) for _ in range(120))]:
        root = _random_tree(rng, nodes)
        assert _dom_shingles(root) == _dom_shingles_by_parents(root), nodes
        # from a subtree too: its path starts there, whatever is above it
        below = next(iter(root), None)
        if below is not None:
            assert _dom_shingles(below) == _dom_shingles_by_parents(below), nodes
    assert _dom_shingles(etree.Comment("c")) == _dom_shingles_by_parents(etree.Comment("c")) == set()


def test_dom_shingles_are_those_of_the_parent_lookup_walk_on_hostile_pages() -> None:
    pages = [
        "<div>" * 5000 + "deep" + "</div>" * 5000,  # past libxml2's depth limit: parsed again, flattened
        "<ul>" + "<li class='a'>x</li>" * 3000 + "</ul>",  # wide, and cut at MAX_ELEMENTS
        "<p class='\x01\x1f\u00e9\U0001F48A'>" + "<b class='" + "x" * 100_000 + "'>y</b>" * 3 + "</p>",
        "<!-- c --><?pi x?><html><!-- in --><body><?php echo 1 ?><p>a</p><![CDATA[x]]></body></html>",
        "<svg><rect class='r'/></svg><math><mi>x</mi></math><table><tr><td class='t'>1</td></tr></table>",
        "<DIV CLASS='Up'><Span class=''>x</Span></DIV>&amp;&bogus;<a:b class='ns'>c</a:b>",
        "no markup at all",
        "",
    ]
    rng = random.Random(7)
    for _ in range(40):  # random soups of the tags and classes above
        pages.append("".join(rng.choice([f"<{rng.choice([*_TAGS, 'svg:rect'])} class='{rng.choice(_CLASSES) or ''}'>",
                                         f"</{rng.choice(_TAGS)}>", "text", "<!--c-->", "<br>", "<img src=x>"])
                             for _ in range(rng.randrange(1, 1500))))
    for page in pages:
        root = parse_html(page)
        assert _dom_shingles(root) == _dom_shingles_by_parents(root)
        etree.strip_elements(root, "script", "style", "head", with_tail=False)  # as page_shingles sees it
        assert _dom_shingles(root) == _dom_shingles_by_parents(root)


def _break_every_block(root: Any) -> None:
    """parse_html's block breaks as first written (the reference _break_blocks is held to):
    every block's tail and text written with a "\\n" before them, whatever they hold."""
    from pharmcheck.extract import _BLOCK_TAGS, _CONTROL_CHARS

    for el in root.iter(*_BLOCK_TAGS):
        tail = el.tail
        text = el.text
        try:
            el.tail = "\n" + tail if tail else "\n"
            if text:
                el.text = "\n" + text
        except ValueError:
            el.tail = "\n" + _CONTROL_CHARS.sub("", tail or "")
            if text:
                el.text = "\n" + _CONTROL_CHARS.sub("", text)


# Pages made of markup, each followed by whitespace of some kind (line boundaries of
# str.splitlines among it, and control characters lxml reads but refuses to write) and by
# text or none: tails and texts of blocks that are whitespace alone, with or without a
# line break, next to inline elements and text.
_MARKUP = ["<div>", "</div>", "<p class='x'>", "</p>", "<li>", "<br>", "<td>", "<a href='/a'>", "</a>",
           "<span>", "</span>", "<img alt='pic' src='/i.png'>", "<form action='/f'>", "</form>", "<h1>", "</h1>", "<!-- c -->",
           "<script>x\n</script>", "<pre>\n a\n</pre>", "<title>T\n</title>", "<b>", "</b>", "<table>", "<tr>"]
_SPACE = ["", "", " ", " ", " ", "\t", "\n", "\n  ", "\r\n", "\t\n\t", "\x0b", "\x0c\n", "\x1c", " \x1f", "\x85", "\u2028", "\xa0\n", "\x01\n"]
_TEXT = ["", "", "", "word", "word", "two words", "\u00e9t\u00e9 \u200b", "$9.99", "a\x01b"]


def _break_page(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_MARKUP) + rng.choice(_SPACE) + rng.choice(_TEXT) for _ in range(parts))


def _facts_breaking_every_block(page: str) -> object:
    """extract_html's PageFacts of `page` with the reference block breaks in parse_html."""
    import pharmcheck.extract as extract

    original = extract._break_blocks
    extract._break_blocks = _break_every_block
    try:
        return extract_html(page, "https://shop.example/")
    finally:
        extract._break_blocks = original


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_MARKUP), st.sampled_from(_SPACE), st.sampled_from(_TEXT)).map("".join),
                max_size=30).map("".join))
def test_the_facts_are_those_of_breaking_every_block(page: str) -> None:
    assert extract_html(page, "https://shop.example/") == _facts_breaking_every_block(page)


def test_the_facts_are_those_of_breaking_every_block_on_listings_and_hostile_pages() -> None:
    rng = random.Random(5)
    pages = [_break_page(rng, rng.randrange(1, 1500)) for _ in range(20)]
    pages += [
        "<div>a</div> <span>b</span>", "<li> <b>c</b> d</li>\t<i>e</i>", "<p>f</p>\n<b>g</b>", "<td>\x0c</td>h",
        "<div>\n" * 5000 + "deep" + "\n</div>" * 5000,  # flattened by a second parse
        "<ul>\n" + "  <li class='a'>\n    <a href='/p'>x</a>\n  </li>\n" * 2000 + "</ul>",  # pretty-printed
        "<div>" + "<p>a\x01b</p>\x0c\n<td>\x1f\n</td>" * 50 + "</div>",  # control characters to clean
    ]
    for page in pages:
        assert extract_html(page, "https://shop.example/") == _facts_breaking_every_block(page)


def _links_joining_every_alt(root: Any, base: str) -> list[Any]:
    """_links as first written (the reference its picture-link path is held to): a link
    without text is named by its title, its aria-label or the alt texts of every <img> in it."""
    from pharmcheck.extract import MAX_LINKS, Link, _absolute, _fold
    from pharmcheck.urls import origin_of

    origin = origin_of(base)
    out: list[Any] = []
    for el in root.iter("a", "area"):
        href = el.get("href")
        if href is None:
            continue
        url = _absolute(href, base, origin)
        if url is None:
            continue
        if len(el):
            inner = etree.tostring(el, method="text", encoding=str, with_tail=False)
            text = " ".join(" ".join(el.itertext()).split())[:200] if inner and not inner.isspace() else ""
        else:
            raw = el.text
            text = " ".join(raw.split())[:200] if raw else ""
        if not text:
            text = _fold(
                el.get("title") or el.get("aria-label") or " ".join(img.get("alt") or "" for img in el.iter("img"))
            )[:200]
        out.append(Link(url[:2000], text))
        if len(out) >= MAX_LINKS:
            break
    return out


# Links of every shape a picture link takes, and of those that only look like one.
_LINK_SHAPES = [
    "<a href='/a'><img src='/i' alt='Pill {n}'></a>", "<a href='/b'><img src='/i'></a>", "<a href='/c'><img alt=''></a>",
    "<a href='/d'> <img alt=' spaced\\n alt '> </a>", "<a href='/e'><!-- c --><img alt='after comment'></a>",
    "<a href='/f'><img alt='one'><img alt='two'></a>", "<a href='/g'><span><img alt='deep'></span></a>",
    "<a href='/h' title='Title'><img alt='x'></a>", "<a href='/i' title=''><img alt='empty title'></a>",
    "<a href='/j' aria-label=' '><img alt='blank label'></a>", "<a href='/k' aria-label='Label'></a>",
    "<a href='/l'><b></b></a>", "<a href='/m'><IMG ALT='Upper'></a>", "<a href='/n'><img alt='\\x01\\u00e9\\U0001F48A'></a>",
    "<a href='/o'><br><img alt='br first'></a>", "<a href='/p'><svg><image alt='svg'/></svg></a>", "<area href='/q' alt='area'>",
    "<a href='/r'>text <img alt='with text'></a>", "<a href='/s'><img alt='" + "long " * 100 + "'></a>", "<a href='#t'><img></a>",
    "<a href='/u'><a href='/v'><img alt='nested'></a></a>", "<a href='/w'><picture><img alt='in picture'></picture></a>",
]


def test_link_texts_are_those_of_joining_every_alt() -> None:
    from pharmcheck.extract import _links

    rng = random.Random(3)
    pages = [" ".join(_LINK_SHAPES).format(n=0)]
    pages += ["".join(rng.choice(_LINK_SHAPES).format(n=i) for i in range(rng.randrange(1, 80))) for _ in range(60)]
    for page in pages:
        root = parse_html(page)
        assert _links(root, "https://shop.example/x/", {}) == _links_joining_every_alt(root, "https://shop.example/x/")
    # trees built directly: an <img> holding children (no parser makes one), a comment first
    root = etree.fromstring("<html><body><a href='/a'><img alt='kids'><img alt='inside'/></img></a>"
                            "<a href='/b'><img alt='tail'/>  </a><a href='/c'><img alt='pi'/><?pi x?></a></body></html>")
    assert _links(root, "https://shop.example/", {}) == _links_joining_every_alt(root, "https://shop.example/")
