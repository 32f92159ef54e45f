"""One URL validator for `check` and `audit`, and input errors that say so (exit 2, one short line)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pharmcheck.cli import main
from pharmcheck.fetch import guard
from pharmcheck.models import ExitCode
from pharmcheck.urls import InvalidURL, site_url

REJECTED = {
    "-": "not a host name",
    "pharmacy": "has no domain",
    "-bad-.example": "not a valid host name",
    "999.1.1.1": "not a valid IP address",
    "shop.123": "top-level domain is never a number",
    "javascript:alert(1)": "unsupported scheme 'javascript'",
    "mailto:orders@shop.example": "unsupported scheme 'mailto'",
    "http:shop.example": "expected http://host/",
    "https://shop.example:99999/": "bad port",
    "https://shop.example:abc/": "bad port",
    "shop .example": "contains spaces",
    "\x7fELF\x02\x01": "contains control characters",
}


@pytest.mark.parametrize(("text", "reason"), REJECTED.items())
def test_the_validator_names_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(InvalidURL, match=reason):
        site_url(text)


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("shop.example", "https://shop.example/"),
        ("HTTP://Shop.Example:8080/a", "http://shop.example:8080/a"),
        ("shop.example:8080/x", "https://shop.example:8080/x"),  # a port, not a scheme
        ("localhost:8000", "https://localhost:8000/"),
        ("bücher.example", "https://xn--bcher-kva.example/"),
        ("under_score.example", "https://under_score.example/"),
        # IP literals in any spelling pass (the SSRF guard then refuses the private ones).
        ("2130706433", "https://2130706433/"),
        ("0x7f.1", "https://0x7f.1/"),
        ("[::ffff:127.0.0.1]", "https://[::ffff:127.0.0.1]/"),
    ],
)
def test_the_validator_accepts_sites(text: str, url: str) -> None:
    assert site_url(text) == url


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        raise guard.Unresolvable(f"cannot resolve {host}")

    monkeypatch.setattr(guard, "resolve", resolve)
    return looked_up


@pytest.mark.parametrize("text", ["-", "pharmacy", "-bad-.example", "999.1.1.1", "javascript:alert(1)"])
def test_check_refuses_what_audit_refuses_before_any_lookup(
    text: str, no_dns: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = io.StringIO()
    assert main(["check", "--", text], stderr=err) == ExitCode.USAGE
    message = err.getvalue()
    assert message.startswith("pharmcheck: error: invalid URL") and message.count("\n") == 1
    assert "Port could not be cast" not in message
    assert no_dns == []  # refused before any DNS lookup
    listing = tmp_path / "one.txt"
    listing.write_text(text + "\n")
    err = io.StringIO()
    assert main(["audit", str(listing), "--db", str(tmp_path / "a.db")], stderr=err) == ExitCode.USAGE


def _audit(tmp_path: Path, content: bytes) -> tuple[int, str]:
    listing = tmp_path / "list.txt"
    listing.write_bytes(content)
    err = io.StringIO()
    code = main(["audit", str(listing), "--db", str(tmp_path / "audit.db"), "--processes", "1"], stderr=err)
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00" * 50, "binary file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20, "binary file"),
        (b"", "holds no URL"),
        (b"# only comments\n\n   \n", "holds no URL"),
        (b"not a url\n-bad-.example\njavascript:alert(1)\n", "no valid URL in"),
    ],
)
def test_unusable_audit_input_exits_2_with_one_line_and_creates_no_run(
    tmp_path: Path, content: bytes, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _audit(tmp_path, content)
    assert code == ExitCode.USAGE
    assert said in err and err.count("\n") == 1 and len(err) < 400
    assert "sites stored" not in err and not (tmp_path / "audit.db").exists()
    assert capsys.readouterr().out == ""


def test_all_invalid_input_says_how_many_lines_and_the_first_reason(tmp_path: Path) -> None:
    code, err = _audit(tmp_path, b"not a url\n-bad-.example\njavascript:alert(1)\n")
    assert code == ExitCode.USAGE
    assert "3 line(s), none valid" in err and "line 1: contains spaces: 'not a url'" in err


def test_a_huge_bad_line_is_not_echoed(tmp_path: Path) -> None:
    code, err = _audit(tmp_path, b"x" * 10_000_000 + b"\n")
    assert code == ExitCode.USAGE and "too long" in err and len(err) < 400
    err_check = io.StringIO()
    assert main(["check", "shop.example/" + "a" * 1_000_000], stderr=err_check) == ExitCode.USAGE
    assert len(err_check.getvalue()) < 400


def test_bad_lines_beside_good_ones_are_skipped_with_short_messages(
    tmp_path: Path, no_dns: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    long_bad = "-bad-" + ".y" * 120 + ".example"  # 253 characters, the first label wrong
    code, _ = _audit(tmp_path, f"{long_bad}\nhttps://shop.example/\n".encode())
    assert code == ExitCode.OK  # the good line was audited (unreachable here: no DNS)
    assert set(no_dns) == {"shop.example"}  # the fixture really stands in for DNS
    skipped = [line for line in capsys.readouterr().err.splitlines() if "(skipped)" in line]
    assert len(skipped) == 1 and len(skipped[0]) < 400 and "line 1: not a valid host name" in skipped[0]


def test_stdin_all_invalid_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("pharmacy\n999.1.1.1\n"))
    err = io.StringIO()
    assert main(["audit", "-", "--db", str(tmp_path / "a.db")], stderr=err) == ExitCode.USAGE
    assert "no valid URL in stdin: 2 line(s)" in err.getvalue()
