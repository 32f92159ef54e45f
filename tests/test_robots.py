"""robots.txt read as RFC 9309 says: user-agent groups, longest match, `*` and `$`, percent-encoding."""

from __future__ import annotations

import pytest

from pharmcheck.fetch.live import DEFAULT_USER_AGENT
from pharmcheck.fetch.policy import Robots

# RFC 9309 section 5.1, the example file (with the crawler names it uses).
RFC_EXAMPLE = """\
User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot
"""


def allowed(body: str, path: str, agent: str = DEFAULT_USER_AGENT) -> bool:
    return Robots(body, agent).allowed("https://shop.example" + path)


@pytest.mark.parametrize(
    ("agent", "path", "expected"),
    [
        # foobot has its own group: everything disallowed but two files.
        ("foobot/2.1", "/example/page.html", True),
        ("foobot/2.1", "/example/allowed.gif", True),
        ("foobot/2.1", "/example/other.html", False),
        ("FooBot/2.1", "/", False),  # product tokens are matched case-insensitively
        # barbot and bazbot share a group.
        ("barbot", "/example/page.html", False),
        ("bazbot", "/example/page.html", False),
        ("bazbot", "/example/other.html", True),
        # quxbot's group is empty: everything allowed (it does not fall back to `*`).
        ("quxbot", "/example/x.gif", True),
        # Anyone else gets the `*` group.
        ("otherbot", "/publications/", True),
        ("otherbot", "/example/", False),
        ("otherbot", "/images/logo.gif", False),
        ("otherbot", "/images/logo.gif?v=2", True),  # `$` anchors the end of the path
    ],
)
def test_rfc_9309_example_file(agent: str, path: str, expected: bool) -> None:
    assert allowed(RFC_EXAMPLE, path, agent) is expected


def test_longest_match_wins_whatever_the_order_of_the_lines() -> None:
    # urllib.robotparser took the first matching line, so /shop/about was refused.
    body = "User-agent: *\nDisallow: /shop\nAllow: /shop/about\n"
    assert allowed(body, "/shop/about")
    assert not allowed(body, "/shop/cart")
    # RFC 9309 5.2: the longer Disallow beats the shorter Allow.
    body = "User-agent: *\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n"
    assert allowed(body, "/example/page/")
    assert not allowed(body, "/example/page/disallowed.gif")


def test_allow_wins_a_tie() -> None:
    body = "User-agent: *\nDisallow: /page\nAllow: /page\n"
    assert allowed(body, "/page")


def test_wildcard_and_end_anchor() -> None:
    body = "User-agent: *\nDisallow: /*.html$\nDisallow: /this/*/exactly\n"
    assert not allowed(body, "/a.html")
    assert not allowed(body, "/deep/dir/b.html")
    assert allowed(body, "/a.html5")
    assert allowed(body, "/a.htm")
    assert not allowed(body, "/this/path/exactly")
    assert not allowed(body, "/this/other/path/exactly/too")
    assert allowed(body, "/this/exactly")


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        # RFC 9309 2.2.2: a rule and a path match after percent-encoding both the same way.
        ("/foo/bar/ツ", "/foo/bar/%E3%83%84"),
        ("/foo/bar/%E3%83%84", "/foo/bar/ツ"),
        ("/foo/bar/%e3%83%84", "/foo/bar/%E3%83%84"),
        ("/foo/bar/%62%61%7A", "/foo/bar/baz"),  # unreserved characters: encoded or not, the same
        ("/foo/bar/baz", "/foo/bar/%62%61%7a"),
    ],
)
def test_percent_encoding_is_compared_encoded(rule: str, path: str) -> None:
    body = f"User-agent: *\nDisallow: {rule}\n"
    assert not allowed(body, path)
    assert allowed(body, "/foo/other")


def test_groups_for_the_same_agent_are_merged() -> None:
    body = "User-agent: pharmcheck\nDisallow: /a\n\nUser-agent: other\nDisallow: /\n\nUser-agent: pharmcheck\nDisallow: /b\n"
    assert not allowed(body, "/a/x") and not allowed(body, "/b/x")
    assert allowed(body, "/c")


def test_our_own_group_beats_the_star_group() -> None:
    body = "User-agent: *\nDisallow: /\n\nUser-agent: pharmcheck\nAllow: /\n"
    robots = Robots(body, DEFAULT_USER_AGENT)
    assert robots.allowed("https://shop.example/about") and not robots.disallows_all
    assert Robots(body, "somebot/1.0").disallows_all


def test_comments_unknown_lines_and_an_empty_file() -> None:
    body = "# hello\nUser-agent: * # everyone\nCrawl-delay: 3\nNonsense here\nDisallow: /private # keep out\n"
    assert not allowed(body, "/private/x")
    assert allowed(body, "/public")
    assert allowed("", "/anything") and not Robots("", DEFAULT_USER_AGENT).disallows_all


def test_server_error_disallows_everything() -> None:
    robots = Robots(None, DEFAULT_USER_AGENT, disallow_all=True, reason="robots.txt answered HTTP 503")
    assert not robots.allowed("https://shop.example/") and robots.disallows_all
