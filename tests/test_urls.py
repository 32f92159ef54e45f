import pytest

from pharmcheck.urls import InvalidURL, defang, normalize_url, registrable_domain, same_site


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM:80/a/../b/./c?x=1#frag", "http://example.com/b/c?x=1"),
        ("example.com", "https://example.com/"),
        ("https://example.com:443/a%7eb", "https://example.com/a~b"),
        ("https://example.com/dir/", "https://example.com/dir/"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        # UTS 46 non-transitional, as browsers: ß is kept (IDNA 2003 made it "fass"), case folded.
        ("https://faß.example/", "https://xn--fa-hia.example/"),
        ("https://BÜCHER.example/", "https://xn--bcher-kva.example/"),
        ("//cdn.example.org/x", "https://cdn.example.org/x"),
        ("http://example.com:8080", "http://example.com:8080/"),
    ],
)
def test_one_page_has_one_spelling(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(
    "raw", ["ftp://example.com/", "javascript:alert(1)", "file:///etc/passwd", "https://", "https://exa mple.com/",
            "https://ex<ample.com/"]
)
def test_non_http_urls_are_refused(raw: str) -> None:
    with pytest.raises(InvalidURL):
        normalize_url(raw)


def test_registrable_domain_uses_public_suffixes_without_network() -> None:
    assert registrable_domain("shop.example.co.uk") == "example.co.uk"
    assert registrable_domain("https://a.b.example.pharmacy/x") == "example.pharmacy"
    assert registrable_domain("127.0.0.1") == "127.0.0.1"
    assert same_site("https://www.example.com/a", "http://shop.example.com/b")
    assert not same_site("https://example.com/", "https://example.org/")


def test_defang_makes_links_unclickable() -> None:
    assert defang("https://rogue.example/buy?x=1") == "hxxps://rogue[.]example/buy?x=1"
    assert defang("HTTP://a.example") == "hxxp://a[.]example"
    assert defang("javascript:alert(document.domain)") == "javascript:alert(document[.]domain)"


def test_url_pieces_by_string_split_agree_with_urlsplit() -> None:
    from urllib.parse import urlsplit

    from pharmcheck.urls import (
        authority,
        endpoint,
        fast_host,
        origin_of,
        request_target,
        robots_url,
        without_scheme,
    )

    for url in ["https://shop.example/a/b?c=1", "http://shop.example:8080/", "https://x.example",
                "https://[2001:db8::1]:8443/p", "https://Shop.Example./"]:
        parts = urlsplit(url)
        assert fast_host(url) == (parts.hostname or "").rstrip(".")
        assert authority(url) == parts.netloc
        assert request_target(url) == (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        assert origin_of(url) == f"{parts.scheme}://{parts.netloc}"
        assert robots_url(url) == f"{parts.scheme}://{parts.netloc}/robots.txt"
        assert without_scheme(url) == url.split("//", 1)[1]
    assert endpoint("https://shop.example/") == ("https", "shop.example", 443)
    assert endpoint("http://shop.example:8080/x") == ("http", "shop.example", 8080)
