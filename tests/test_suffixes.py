"""pharmcheck.suffixes answers as tldextract (bundled snapshot, no private domains) does, for
every suffix of the list and the odd hosts a page's links carry; its trie in the user cache
is the list's, and a corrupt entry is rebuilt."""

from __future__ import annotations

import contextlib
from pathlib import Path

import idna
import pytest
import tldextract
from hypothesis import given, settings
from hypothesis import strategies as st

from pharmcheck import suffixes
from pharmcheck.urls import has_public_suffix, registrable_domain

EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def expected(host: str) -> tuple[str, str]:
    ext = EXTRACT(host)
    return ext.domain, ext.suffix


def _list_text() -> str:
    path = suffixes._snapshot_path()
    assert path is not None, "tldextract's bundled snapshot not found"
    return path.read_text(encoding="utf-8")


def _hosts_around(rule: str) -> list[str]:
    """The rule's suffix alone, a name under it and a subdomain of that (wildcards filled in)."""
    suffix = rule.lstrip("!").replace("*", "w")
    hosts = [suffix, f"shop.{suffix}", f"www.shop.{suffix}", suffix.upper()]
    if not suffix.isascii():
        with contextlib.suppress(idna.IDNAError):
            hosts.append("shop." + idna.encode(suffix, uts46=True).decode("ascii"))
    return hosts


def test_every_rule_of_the_list_splits_hosts_as_tldextract_does() -> None:
    text = _list_text()
    # The private section's rules too: tldextract (as pharmcheck sets it) treats them as names.
    private = [m.group("suffix") for m in suffixes._SUFFIX_LINE.finditer(text.partition(suffixes._PRIVATE_SECTION)[2])]
    rules = suffixes.public_suffixes_of(text) + private
    assert len(rules) > 8000 and len(private) > 1000
    assert any(r.startswith("*.") for r in rules) and any(r.startswith("!") for r in rules)
    wrong = [(host, suffixes.split_host(host), expected(host))
             for rule in rules for host in _hosts_around(rule)
             if suffixes.split_host(host) != expected(host)]
    assert wrong[:5] == []


ODD_HOSTS = [
    "", ".", "..", "localhost", "com", "co.uk", "example.co.uk", "a..example.com", "example.com.",
    "127.0.0.1", "999.1.1.1", "1.2.3.4.5", "[::1]", "[2001:db8::1]", "[not-ipv6]", "::1",
    "user@shop.example.com", "shop.example.com:8443", "https://shop.example.co.uk/path?q#f",
    "//shop.example.org/x", "shop。example。com", "shop．example．jp", "xn--fa-hia.example",
    "xn--bcher-kva.ch", "xn--invalid-.com", "EXAMPLE.COM", "www.ck", "other.ck", "a.b.kawasaki.jp",
    "city.kawasaki.jp", "blogspot.com", "x.blogspot.com", "x.github.io", "bücher.de", "例え.jp",
]


@pytest.mark.parametrize("host", ODD_HOSTS)
def test_odd_hosts_split_as_tldextract_splits_them(host: str) -> None:
    assert suffixes.split_host(host) == expected(host)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abc.-:@[]/1*!xn-", max_size=24))
def test_any_host_like_text_splits_as_tldextract_splits_it(host: str) -> None:
    assert suffixes.split_host(host) == expected(host)


def test_registrable_domains_of_urls_and_hosts() -> None:
    assert registrable_domain("https://shop.example.co.uk/a") == "example.co.uk"
    assert registrable_domain("www.ck") == "www.ck"  # an exception to *.ck
    assert registrable_domain("a.b.other.ck") == "b.other.ck"
    assert registrable_domain("192.0.2.1") == "192.0.2.1"
    assert registrable_domain("localhost") == "localhost"
    assert has_public_suffix("shop.example.co.uk") and not has_public_suffix("e.g")


def test_the_trie_is_cached_and_a_corrupt_entry_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHARMCHECK_CACHE_DIR", str(tmp_path))
    built = suffixes._load_nodes()
    entries = list(tmp_path.glob("suffixes-*"))
    assert len(entries) == 1
    assert suffixes._load_nodes() == built  # read back from the entry
    (entries[0] / "nodes.marshal").write_bytes(b"\x00garbage")
    assert suffixes._load_nodes() == built
    assert built == suffixes.build_nodes(suffixes.public_suffixes_of(_list_text()))
    assert built["co.uk"] and not built["kawasaki.jp"] and built["*.kawasaki.jp"]


def test_without_the_snapshot_file_the_table_comes_from_tldextract_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tldextract that keeps its list elsewhere: asked for its suffixes, same answers.
    expected_nodes = suffixes.build_nodes(suffixes.public_suffixes_of(_list_text()))
    monkeypatch.setattr(suffixes, "_snapshot_path", lambda: None)
    assert suffixes._load_nodes() == expected_nodes
