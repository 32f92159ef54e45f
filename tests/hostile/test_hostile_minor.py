"""Small hostile spellings: URLs browsers read differently from urllib, corrupt gzip bodies."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from hostile.hostile_check import check, codes
from hostile.hostile_server import HostileServer
from pharmcheck.errors import UsageError
from pharmcheck.ruleset import RuleSet
from pharmcheck.urls import host_of, normalize_url


def test_scheme_with_one_slash_names_the_host_not_http() -> None:
    assert host_of(normalize_url("http:/127.0.0.1/")) == "127.0.0.1"
    assert normalize_url("HTTPS:\\\\shop.example\\a") == "https://shop.example/a"
    assert normalize_url("localhost:8080/x") == "https://localhost:8080/x"  # host:port, not a scheme


def test_one_slash_start_url_is_refused_not_checked_at_host_http(server: HostileServer, ruleset: RuleSet) -> None:
    # A user-given site must be spelled out (urls.site_url); in a link or redirect the
    # browser reading stands (above). Either way the host is never "http".
    with pytest.raises(UsageError, match=r"expected http://host/"):
        check(f"http:/127.0.0.1:{server.port}/ok/", ruleset)


def test_backslash_redirect_goes_to_the_host_it_names(server: HostileServer, ruleset: RuleSet) -> None:
    # Browsers read `Location: \\host/path` as `//host/path`: another host, not a local path.
    target = f"\\\\localhost:{server.port}/ok/"
    assert normalize_url(target, base=server.base + "/redirect") == f"http://localhost:{server.port}/ok/"
    report = check(f"{server.base}/redirect?to={quote(target)}", ruleset)
    assert report.pages[0].final_url == f"http://localhost:{server.port}/ok/"
    assert report.pages[0].status == 200


def test_corrupt_gzip_body_says_so(server: HostileServer, ruleset: RuleSet) -> None:
    report = check(server.base + "/corrupt-gzip", ruleset)
    assert "connection" in codes(report)
    (error,) = [e for e in report.errors if e.code.value == "connection"]
    assert error.message.startswith("corrupt compressed body")
