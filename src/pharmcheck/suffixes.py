"""Public suffixes (`co.uk`, `*.ck` but `www.ck`): where a host's registrable domain starts.

The answers of `tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)` (its bundled
Public Suffix List snapshot, ICANN section only, as pharmcheck always used it), without
importing tldextract: that imports requests, urllib3 and filelock (~40 ms), which a check of
a capture never uses, and builds its trie of ~10^4 suffixes in every process (~30 ms). Here
the snapshot file is read in place, its trie (flattened to one dict) kept in the user cache
(cache.py), keyed by the snapshot's content hash: ~2 ms to load. The walk below is
tldextract's own (`_PublicSuffixListTLDExtractor.suffix_index` and `_extract_netloc`), so the
answers are the same; tests/test_suffixes.py holds the two to it.
"""

from __future__ import annotations

import importlib.util
import logging
import marshal
import re
from functools import lru_cache
from ipaddress import AddressValueError, IPv6Address
from pathlib import Path
from urllib.parse import scheme_chars

import idna

from pharmcheck.cache import key_of, load_entry, store_entry

_log = logging.getLogger("pharmcheck")

SNAPSHOT_NAME = ".tld_set_snapshot"  # tldextract's bundled copy of the list
# tldextract's own reading of the list: a suffix starts at the first word character of a line.
_SUFFIX_LINE = re.compile(r"^(?P<suffix>[.*!]*\w[\S]*)", re.UNICODE | re.MULTILINE)
_PRIVATE_SECTION = "// ===BEGIN PRIVATE DOMAINS==="
_IPV4 = re.compile(
    r"^(?:(?:[0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.)"
    r"{3}(?:[0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])$",
    re.ASCII,
)
_SCHEME_CHARS = frozenset(scheme_chars)
_WIDE_DOTS = ("\u3002", "\uff0e", "\uff61")  # ideographic and full-width full stops

# The trie of the rules, flattened: every node by its path ("uk", "co.uk", "*.ck", "!www.ck")
# -> whether a rule ends there. One dict of ~7,000 strings reads back from marshal in ~2 ms;
# the same trie as nested dicts took ~3x that.
Nodes = dict[str, bool]


def _snapshot_path() -> Path | None:
    """tldextract's snapshot file, found without importing tldextract."""
    try:
        spec = importlib.util.find_spec("tldextract")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SNAPSHOT_NAME
    return path if path.is_file() else None


def public_suffixes_of(list_text: str) -> list[str]:
    """The ICANN-section suffixes of a Public Suffix List text, as tldextract reads them."""
    public_text = list_text.partition(_PRIVATE_SECTION)[0]
    return [m.group("suffix") for m in _SUFFIX_LINE.finditer(public_text)]


def build_nodes(rules: list[str]) -> Nodes:
    """The trie of `rules` (`co.uk`: nodes "uk" and "co.uk", a rule ending at the second)."""
    nodes: Nodes = {}
    for rule in rules:
        labels = rule.split(".")
        for start in range(len(labels) - 1, 0, -1):
            nodes.setdefault(".".join(labels[start:]), False)
        nodes[rule] = True
    return nodes


def _load_nodes() -> Nodes:
    path = _snapshot_path()
    if path is None:  # a tldextract that keeps its list elsewhere: ask it (slower, same answers)
        import tldextract

        return build_nodes(list(tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None).tlds))
    data = path.read_bytes()
    name = f"suffixes-{key_of('public-suffix-nodes/1', data)}"
    found = load_entry(name, lambda folder: _read_nodes(folder / "nodes.marshal"))
    if found is not None:
        return found
    nodes = build_nodes(public_suffixes_of(data.decode("utf-8")))

    def write(folder: Path) -> None:
        (folder / "nodes.marshal").write_bytes(marshal.dumps(nodes))

    store_entry(name, write)
    return nodes


def _read_nodes(path: Path) -> Nodes:
    nodes = marshal.loads(path.read_bytes())
    if not (isinstance(nodes, dict) and nodes and all(type(v) is bool for v in nodes.values())):
        raise ValueError("not a table of public suffixes")
    return nodes


@lru_cache(maxsize=1)
def _nodes() -> Nodes:
    return _load_nodes()


def _decode_punycode(label: str) -> str:
    lowered = label.lower()
    if lowered.startswith("xn--"):
        try:
            return str(idna.decode(lowered))
        except (UnicodeError, IndexError):
            pass
    return lowered


def _suffix_index(labels: list[str]) -> int | None:
    """Index of the first label of the public suffix of `labels`, or None if there is none:
    tldextract's walk of its trie from the right, on the flattened trie."""
    nodes = _nodes()
    suffix_idx = label_idx = len(labels)
    path = ""  # the node reached: the labels matched so far
    for label in reversed(labels):
        decoded = _decode_punycode(label)
        # A label with a dot in it (decoded from punycode) is no label of the trie's.
        one_label = "." not in decoded
        child = (f"{decoded}.{path}" if path else decoded) if one_label else ""
        ends = nodes.get(child) if one_label else None
        if ends is not None:
            label_idx -= 1
            path = child
            if ends:
                suffix_idx = label_idx
            continue
        if (f"*.{path}" if path else "*") in nodes:
            exception = one_label and (f"!{decoded}.{path}" if path else f"!{decoded}") in nodes
            return label_idx if exception else label_idx - 1
        break
    return None if suffix_idx == len(labels) else suffix_idx


def _lenient_host(url: str) -> str:
    """The host part of a URL-like string, case and IPv6 brackets kept (tldextract's reading)."""
    slashes = url.find("//")
    if slashes == 0:
        schemeless = url[2:]
    elif slashes < 2 or url[slashes - 1] != ":" or set(url[: slashes - 1]) - _SCHEME_CHARS:
        schemeless = url
    else:
        schemeless = url[slashes + 2:]
    authority = schemeless.partition("/")[0].partition("?")[0].partition("#")[0]
    after_userinfo = authority.rpartition("@")[-1]
    if after_userinfo and after_userinfo[0] == "[":
        maybe_ipv6 = after_userinfo.partition("]")
        if maybe_ipv6[1] == "]":
            return f"{maybe_ipv6[0]}]"
    return after_userinfo.partition(":")[0].strip().rstrip(".\u3002\uff0e\uff61")


def _is_ipv6(text: str) -> bool:
    try:
        IPv6Address(text)
    except AddressValueError:
        return False
    return True


def split_host(host: str) -> tuple[str, str]:
    """(domain label, public suffix) of `host`, as tldextract's `domain` and `suffix`; either
    is "" when there is none (an IP address, a bare name, a suffix alone)."""
    netloc = _lenient_host(host)
    for dot in _WIDE_DOTS:
        netloc = netloc.replace(dot, ".")
    if len(netloc) >= 4 and netloc[0] == "[" and netloc[-1] == "]" and _is_ipv6(netloc[1:-1]):
        return netloc, ""
    labels = netloc.split(".")
    index = _suffix_index(labels)
    if index is None:
        if len(labels) == 4 and netloc[:1].isdecimal() and _IPV4.fullmatch(netloc):
            return netloc, ""
        return labels[-1], ""
    return (labels[index - 1] if index > 0 else ""), ".".join(labels[index:])


def registrable(host: str) -> str | None:
    """`shop.example.co.uk` -> `example.co.uk` (tldextract's `top_domain_under_public_suffix`),
    or None when `host` has no name under a public suffix."""
    domain, suffix = split_host(host)
    return f"{domain}.{suffix}" if domain and suffix else None
