"""Crawl policy: which links of a site are worth one of the few pages we fetch, and robots.txt."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate

import re2
from protego import Protego

from pharmcheck.urls import InvalidURL, host_of, normalize_url, registrable_domain, request_target

# What a link promises, by the words in its URL or text, with how much we want it.
# Evidence for each criterion tends to sit on these pages (NABP/LegitScript reviewers read
# the same ones): identity and licences on about/contact/legal, the prescription policy on
# FAQ/how-to-order, payment and shipping terms on their own pages. The second pattern of each
# category holds the same page names in de, fr, es, it, nl, pl, pt and sv (URL stems, ASCII,
# as addresses are written).
CATEGORIES: list[tuple[str, int, re.Pattern[str]]] = [
    (name, weight, re.compile(f"{pattern}|{european}", re.I))
    for name, weight, pattern, european in [
        ("prescription", 90, r"prescri|\brx\b|how[-_ ]?(it[-_ ]?works|to[-_ ]?order)|ordering",
         r"rezept|verschreib|ordonnance|receta|ricett|\brecept|voorschrift|recepta|receit|so[-_ ]?bestellen|comment[-_ ]?commander|como[-_ ]?comprar|come[-_ ]?ordinare"),
        ("about", 85, r"about|who[-_ ]?we[-_ ]?are|our[-_ ]?(story|company|pharmac)|licen[cs]|accredit|regulat",
         r"ueber[-_ ]?uns|uber[-_ ]?uns|qui[-_ ]?sommes|chi[-_ ]?siamo|quienes[-_ ]?somos|sobre[-_ ]?(nosotros|nos)|over[-_ ]?ons|\bo[-_ ]?nas\b|om[-_ ]?oss|unternehmen|la[-_ ]?loi|\bloi\b|legge|\bley\b|gesetz"),
        ("contact", 80, r"contact|impressum|imprint|kontakt|find[-_ ]?us|locations?\b",
         r"mentions[-_ ]?legales|note[-_ ]?legali|aviso[-_ ]?legal|colofon|contatt|contacto|contato|kontakt"),
        ("legal", 75, r"terms|conditions|legal|disclaimer|\btos\b|agb",
         r"\bcgv\b|condizioni|condiciones|condicoes|voorwaarden|regulamin|warunki|villkor|geschaeftsbedingungen|nutzungsbedingungen"),
        ("faq", 75, r"faq|help|support|questions|frequently",
         r"hilfe|fragen|\baide\b|ayuda|aiuto|guida|domande|preguntas|vragen|pomoc|pytania|ajuda|perguntas|hjalp|fragor"),
        ("shipping", 70, r"ship|deliver|dispatch|postage|customs",
         r"versand|lieferung|livraison|envio|spedizion|consegna|verzend|levering|wysylk|dostaw|entrega|frakt|leverans"),
        ("payment", 70, r"payment|pay[-_ ]?method|billing|bitcoin|crypto",
         r"zahlung|bezahl|paiement|\bpago|pagament|betal|platnos|pagamento|betalning"),
        ("offers", 65, r"special[-_ ]?offers|\bdeals\b|promotions?\b",
         r"angebote|\boffres\b|ofertas|offerte|aanbieding|promocj|promo[cç][oõ]es|erbjudanden"),
        ("reviews", 65, r"review|testimonial|feedback|trustpilot|rating",
         r"bewertung|avis[-_ ]?clients|opiniones|recension|ervaringen|beoordeling|opinie|avaliac|omdome"),
        ("privacy", 50, r"privacy|hipaa|gdpr|cookie[-_ ]?policy",
         r"datenschutz|confidentialite|privacidad|riservatezza|privacybeleid|prywatnosc|privacidade|integritet"),
    ]
]
PRODUCT_WEIGHT = 60
MAX_PRODUCTS = 3
# A link whose address and text promise nothing in particular (an article, a blog post, a
# product with a name we do not know) is still read, last and at most this many times: on
# many shops the evidence sits exactly there, and a checker that skips it sees only a menu.
OTHER_WEIGHT = 20
MAX_OTHER = 3
_SKIP = re.compile(
    r"\.(jpe?g|png|gif|webp|svg|ico|pdf|zip|gz|mp4|mp3|css|js|woff2?|ttf|xml|json)(\?|$)"
    r"|/(cart|checkout|login|logout|signin|sign-in|register|account|wp-admin|wp-login)\b"
    r"|[?&](add-to-cart|add_to_cart|replytocom)=",
    re.I,
)
# The same test on an ASCII URL (what normalised URLs are), lower-cased first: ~1.5x faster
# than IGNORECASE, which only differs from it on characters such a URL does not hold.
_SKIP_LOWER = re.compile(_SKIP.pattern)
_WORD = re.compile(r"[a-z0-9]+")
# Bytes that are not [a-z0-9] -> space: the [a-z0-9]+ words of a lower-cased text are then a
# translate and a split of its UTF-8 bytes (non-ASCII characters encode to bytes >= 0x80,
# which separate words as they do for _WORD), ~3x faster than _WORD.findall on a link.
_NOT_WORD_CHARS = bytes(c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))


def _words(lowered: str) -> list[str]:
    """_WORD.findall(lowered)."""
    return lowered.encode("utf-8", "surrogatepass").translate(_NOT_WORD_CHARS).decode("ascii").split()


def _skipped(url: str) -> bool:
    """Whether _SKIP finds something in `url` (a file, a cart or login page...)."""
    if url.isascii():
        return _SKIP_LOWER.search(url.lower()) is not None
    return _SKIP.search(url) is not None


def _category_set() -> re2.Set:
    # Every category pattern in one RE2::Set: one linear scan of a link says which categories
    # it may belong to (Python's re tries ~150 alternatives at every position: ~140 us a link).
    # On these patterns RE2 matches wherever re does (its ASCII \b is a boundary wherever re's
    # Unicode one is, next to the ASCII letters of the patterns), so a category the set rules
    # out is out, and the ones it names are confirmed with re in order: the result is re's.
    found = re2.Set.SearchSet(re2.Options())
    for _name, _weight, pattern in CATEGORIES:
        found.Add("(?i)" + pattern.pattern)
    found.Compile()
    return found


_CATEGORY_SET = _category_set()
# Each category pattern alone, in RE2: which links of a batch it may match (_categories).
_CATEGORY_RE2 = [re2.compile("(?i)" + pattern.pattern) for _name, _weight, pattern in CATEGORIES]
# re's IGNORECASE matches these to "i"; RE2's (?i) does not: text with them takes re alone.
_RE2_CASE_GAPS = ("\u0130", "\u0131")
# A path (and query) that normalize_url leaves as it is: unreserved and sub-delimiter
# characters only, no %-escapes, no dot segments or doubled slashes, no fragment.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]+)?")


@dataclass
class CrawlFrontier:
    """Picks the next page: the best-promising unvisited same-site link, at most one page
    per category before a second one, and a few product pages that name a drug."""

    start_url: str
    max_pages: int
    drug_words: frozenset[str] = frozenset()
    visited: set[str] = field(default_factory=set)
    _candidates: dict[str, tuple[int, str, int]] = field(default_factory=dict)  # url -> (score, category, order)
    _taken: dict[str, int] = field(default_factory=dict)
    _order: int = 0
    # (href, text) pairs already offered: offering one again changes nothing (its URL is a
    # candidate, visited, or was turned down for good), and listing pages repeat most links.
    _offered: set[tuple[str, str]] = field(default_factory=set)
    _normalized: dict[str, str | None] = field(default_factory=dict)  # href -> URL (None: not one)
    _plain_origins: dict[str, bool] = field(default_factory=dict)  # "https://host" -> already normal
    _site_origins: dict[str, bool] = field(default_factory=dict)  # "https://host" -> same site
    _refused: set[str] = field(default_factory=set)  # URLs off the site or never worth a page

    def __post_init__(self) -> None:
        self.domain = registrable_domain(host_of(self.start_url))

    def same_site(self, url: str) -> bool:
        return registrable_domain(host_of(url)) == self.domain

    def add_links(self, links: Iterable[tuple[str, str]]) -> None:
        """Offer (href, link text) pairs found on a fetched page."""
        if len(self.visited) >= self.max_pages:
            return  # no page is fetched after this one: scoring its links would be for nothing
        offered = self._offered
        normalized = self._normalized
        candidates = self._candidates
        visited = self.visited
        refused = self._refused
        # The links to score, in order: each URL's first text is scored with the others in one
        # batch (_categories); a URL offered again with another text is scored alone, and only
        # if its first text made it no candidate (as one by one in order would have it).
        first: dict[str, str] = {}  # url -> text
        again: list[str] = []  # the texts of URLs offered again
        order: list[tuple[str, int]] = []  # (url, index into again, or -1 for its first text)
        for pair in links:
            if pair in offered:
                continue
            offered.add(pair)
            href = pair[0]
            url = normalized[href] if href in normalized else self._normalize(href)
            if url is None or url in visited or url in candidates or url in refused:
                continue
            if url in first:
                order.append((url, len(again)))
                again.append(pair[1])
                continue
            if not self._same_site_url(url) or _skipped(url):
                refused.add(url)  # for good: neither depends on the link's text
                continue
            first[url] = pair[1]
            order.append((url, -1))
        if not first:
            return
        paths = {url: request_target(url)[1:] for url in first}
        haystacks = [f"{paths[url]} {text}" for url, text in first.items()]
        scored_first = dict(zip(first, zip(haystacks, _categories(haystacks), strict=True), strict=True))
        for url, index in order:
            if url in candidates:
                continue  # an earlier text of this page made it one
            path = paths[url]
            if index < 0:
                haystack, category = scored_first[url]
            else:
                haystack = f"{path} {again[index]}"
                category = _category(haystack)
            scored = category or self._rest_score(path, haystack)
            if scored is not None:
                self._order += 1
                candidates[url] = (scored[0], scored[1], self._order)

    def _normalize(self, href: str) -> str | None:
        """normalize_url(href), None if it is not a URL; once per href, and without the work
        for the common link that is already normal (same origin, plain path)."""
        if href in self._normalized:
            return self._normalized[href]
        url: str | None = None
        origin = _origin_of(href)
        if origin and _PLAIN_PATH.fullmatch(href, len(origin)) and "//" not in href[len(origin):] \
                and "/." not in href[len(origin):]:
            plain = self._plain_origins.get(origin)
            if plain is None:
                plain = self._plain_origins[origin] = _normalized_or_none(origin + "/") == origin + "/"
            if plain:
                url = href
        if url is None:
            url = _normalized_or_none(href)
        self._normalized[href] = url
        return url

    def _same_site_url(self, url: str) -> bool:
        """same_site(url) of a normalised URL, decided once per origin."""
        origin = _origin_of(url)
        if not origin:
            return self.same_site(url)
        known = self._site_origins.get(origin)
        if known is None:
            known = self._site_origins[origin] = self.same_site(url)
        return known

    def _score(self, url: str, text: str) -> tuple[int, str] | None:
        path = request_target(url)[1:]
        haystack = f"{path} {text}"
        return _category(haystack) or self._rest_score(path, haystack)

    def _rest_score(self, path: str, haystack: str) -> tuple[int, str] | None:
        """The score of a link in no category: a product if it names a drug, else "other"."""
        if self.drug_words and not self.drug_words.isdisjoint(_words(haystack.lower())):
            return PRODUCT_WEIGHT, "product"
        if path.strip("/"):
            return OTHER_WEIGHT, "other"
        return None

    def next_url(self) -> str | None:
        if self._taken.get("other", 0) >= MAX_OTHER:
            for url in [u for u, (_, category, _) in self._candidates.items() if category == "other"]:
                del self._candidates[url]
        if len(self.visited) >= self.max_pages or not self._candidates:
            return None

        def key(item: tuple[str, tuple[int, str, int]]) -> tuple[int, int, int]:
            _, (score, category, order) = item
            taken = self._taken.get(category, 0)
            if category == "product" and taken >= MAX_PRODUCTS:
                return (1, 0, order)  # only when nothing else is left
            return (0, -(score - 40 * taken), order)

        url, (_, category, _) = min(self._candidates.items(), key=key)
        del self._candidates[url]
        self._taken[category] = self._taken.get(category, 0) + 1
        return url

    def mark_visited(self, *urls: str) -> None:
        for url in urls:
            self.visited.add(url)
            self._candidates.pop(url, None)


def _categories(haystacks: list[str]) -> list[tuple[int, str] | None]:
    """[_category(h) for h in haystacks], with RE2 passes over them all joined instead of one
    RE2::Set pass a link: which categories occur at all (the set, once), then where each of
    those matches (one pass each). A category pattern never matches a line break (nor does
    its \\b see one differently from the end of a text), so a match lies within one link, and
    every link a pattern matches gets one of its matches. The categories named are confirmed
    with re in order, as _category does."""
    joined = "\n".join(haystacks)
    if joined.count("\n") != len(haystacks) - 1 or _RE2_CASE_GAPS[0] in joined or _RE2_CASE_GAPS[1] in joined:
        return [_category(haystack) for haystack in haystacks]
    present = _CATEGORY_SET.Match(joined)
    if not present:
        return [None] * len(haystacks)
    if joined.isascii():
        text = joined.encode("ascii")
        starts = [0, *accumulate(len(haystack) + 1 for haystack in haystacks)]
    else:  # offsets in bytes: RE2 reads UTF-8
        text = joined.encode("utf-8", "surrogatepass")
        starts = [0, *accumulate(len(haystack.encode("utf-8", "surrogatepass")) + 1 for haystack in haystacks)]
    named: list[list[int]] = [[] for _ in haystacks]  # per link, the categories RE2 matches, in order
    for index in sorted(present):
        for m in _CATEGORY_RE2[index].finditer(text):
            at = named[bisect_right(starts, m.start()) - 1]
            if not at or at[-1] != index:
                at.append(index)
    out: list[tuple[int, str] | None] = []
    for haystack, indexes in zip(haystacks, named, strict=True):
        found = None
        for index in indexes:
            name, weight, pattern = CATEGORIES[index]
            if pattern.search(haystack):
                found = (weight, name)
                break
        out.append(found)
    return out


def _category(haystack: str) -> tuple[int, str] | None:
    """(weight, name) of the first category whose pattern `haystack` matches."""
    if _RE2_CASE_GAPS[0] in haystack or _RE2_CASE_GAPS[1] in haystack:
        indexes: Iterable[int] = range(len(CATEGORIES))
    else:
        indexes = sorted(_CATEGORY_SET.Match(haystack) or ())
    for index in indexes:
        name, weight, pattern = CATEGORIES[index]
        if pattern.search(haystack):
            return weight, name
    return None


def _origin_of(url: str) -> str:
    """"scheme://host[:port]" of an absolute URL with a path, else ""."""
    start = url.find("://")
    if start <= 0:
        return ""
    end = url.find("/", start + 3)
    return url[:end] if end > 0 else ""


def _normalized_or_none(href: str) -> str | None:
    try:
        return normalize_url(href)
    except InvalidURL:
        return None


class Robots:
    """robots.txt rules for one site, read as RFC 9309 says (by protego, Scrapy's parser):
    the most specific user-agent group applies, else `*`; within it the longest matching
    path wins and `Allow` wins a tie; `*` and `$` are wildcards; paths are compared
    percent-encoded. A missing file (4xx) allows everything; a server error (5xx) means
    "disallow everything" until it answers properly."""

    def __init__(self, body: str | None, user_agent: str, disallow_all: bool = False, reason: str = "") -> None:
        self.user_agent = user_agent
        self.reason = reason  # why everything is disallowed, when it is for a reason other than the file
        self._disallow_all = disallow_all
        self._parser: Protego | None = None
        if body and not disallow_all:
            # A cap on lines keeps a hostile multi-megabyte file cheap; RFC 9309 2.5 asks
            # for at least 500 KiB to be parsed, which the caller already cut the body to.
            self._parser = Protego.parse("\n".join(body.splitlines()[:20000]))

    @property
    def _agent(self) -> str:
        # The product token ("pharmcheck" of "pharmcheck/0.1 (+https://...)"), RFC 9309 2.2.1.
        return self.user_agent.split("/", 1)[0].strip() or self.user_agent

    def allowed(self, url: str) -> bool:
        if self._disallow_all:
            return False
        if self._parser is None:
            return True
        return bool(self._parser.can_fetch(url, self._agent))

    @property
    def disallows_all(self) -> bool:
        if self._disallow_all:
            return True
        return self._parser is not None and not self._parser.can_fetch("/", self._agent)
