"""URL normalisation and site identity (registrable domain), with no network access.

At the bottom of the package beside models: every stage speaks in URLs."""

from __future__ import annotations

import ipaddress
import posixpath
import re
import socket
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import idna

# Public suffixes from tldextract's bundled snapshot only (fetching the live list at run time
# prints tracebacks offline, can hang, and caches a stale copy in the user's home), read by
# pharmcheck.suffixes without importing tldextract and its HTTP stack.
from pharmcheck import suffixes

# Characters no host name has (spaces, controls, URL delimiters that urlsplit let through).
_BAD_HOST_CHARS = re.compile(r"[\s\x00-\x1f\x7f<>\"{}|\\^`%]")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_QUERY_START = re.compile(r"[?#]")
# Characters left as they are when re-quoting a path or query.
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = _SAFE_PATH + "?"


class InvalidURL(ValueError):
    pass


# Longest piece of user input quoted back in a message: a 10 MB bad line is not echoed.
MAX_QUOTED = 80


def clip(text: str, limit: int = MAX_QUOTED) -> str:
    """`text` quoted for a one-line message, cut to `limit` characters."""
    shown = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(shown)


def _idna_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if not host:
        raise InvalidURL("no host")
    if host.startswith("[") or ":" in host:  # IPv6 literal
        return host.strip("[]")
    if _BAD_HOST_CHARS.search(host):
        raise InvalidURL(f"bad host name {clip(host)}")
    if not host.isascii():
        # UTS 46 (non-transitional), as browsers read names: `faß.example` is xn--fa-hia, a
        # domain of its own, where IDNA 2003 (Python's codec) maps it to `fass.example`.
        # Only for non-ASCII hosts: the idna package costs ~14x the codec on plain ones
        # (benchmarks/libraries.py), and every link of every page passes here.
        try:
            return idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            pass  # e.g. a symbol IDNA 2008 disallows; the per-label fallback below decides
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        # IDNA 2003 rejects some valid names; fall back to per-label punycode.
        labels = []
        for label in host.split("."):
            if label.isascii():
                labels.append(label)
            else:
                try:
                    labels.append("xn--" + label.encode("punycode").decode("ascii"))
                except UnicodeError as exc:
                    raise InvalidURL(f"bad host name {clip(host)}") from exc
        return ".".join(labels)


def _requote(part: str, safe: str) -> str:
    # unquote then quote: equal URLs get one spelling, and %-escapes are upper-case.
    return quote(unquote(part, errors="surrogateescape"), safe=safe, errors="surrogateescape")


def _as_browsers_read(url: str, base: str | None) -> str:
    """Spellings browsers accept for http(s) (WHATWG URL): a backslash is a slash before the
    query, and `http:/host`, `http:host` or `http:\\\\host` name the host, unless a same-scheme
    base makes them relative. Without this `\\\\evil.example` is taken as a path and
    `http:/127.0.0.1/` as the host `http`."""
    cut = _QUERY_START.search(url)
    end = cut.start() if cut else len(url)
    url = url[:end].replace("\\", "/") + url[end:]
    match = _SCHEME_PREFIX.match(url)
    if match is None:
        return url
    scheme = match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidURL(f"unsupported scheme {scheme!r}: only http and https")
    base_scheme = base.split(":", 1)[0].lower() if base else None
    rest = url[match.end():]
    if base_scheme == scheme and not rest.startswith("//"):
        return url  # relative to the base (urljoin resolves it)
    return f"{scheme}://{rest.lstrip('/')}"


def normalize_url(url: str, base: str | None = None) -> str:
    """Canonical form of an http(s) URL: lower-case scheme and host, punycode, no default
    port, no fragment, dot segments removed. Raises InvalidURL."""
    url = _as_browsers_read(url.strip(), base)
    if base is not None:
        from urllib.parse import urljoin

        url = urljoin(base, url)
    if url.startswith("//"):
        url = "https:" + url
    elif "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        # urlsplit's own words ("Port could not be cast to integer value as ...") quote the input whole.
        raise InvalidURL("bad port" if "port" in str(exc).lower() else "malformed URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidURL(f"unsupported scheme {clip(scheme)}: only http and https")
    host = _idna_host(parts.hostname or "")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path or "/"
    trailing = path.endswith("/")
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if trailing and not path.endswith("/"):
        path += "/"
    return urlunsplit((scheme, netloc, _requote(path, _SAFE_PATH), _requote(parts.query, _SAFE_QUERY), ""))


# `scheme:` at the start of what a user typed; `host:8080` is a port, not a scheme.
_SCHEME_PREFIX = re.compile(r"^([a-z][a-z0-9+.-]*):(?!\d+(?:[/?#]|$))", re.I)
# A DNS label as found in the wild (underscores appear in real host names).
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
# Host names made of numbers only are IPv4 addresses in some spelling (`127.1`, `0x7f.1`,
# `2130706433`), which the resolver reads as such: they must parse as one.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$", re.I)


# Browsers and servers give up on URLs far shorter than this; a longer "URL" is a wrong file.
MAX_SITE_URL = 8192
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")


def site_url(text: str) -> str:
    """The normalised URL of a site to check, from what a user gave (`check URL`, a line of
    an audit list): an http(s) URL or bare domain whose host can exist. The one validator of
    user-given sites; InvalidURL with a short reason (input quoted at most MAX_QUOTED chars)."""
    text = text.strip()
    if not text:
        raise InvalidURL("empty")
    if len(text) > MAX_SITE_URL:
        raise InvalidURL(f"too long ({len(text):,} characters; a site's address has at most {MAX_SITE_URL:,})")
    odd = _SPACE_OR_CONTROL.search(text)
    if odd:
        raise InvalidURL("contains spaces" if odd.group().isspace() else "contains control characters")
    scheme = _SCHEME_PREFIX.match(text)
    if scheme and scheme.group(1).lower() not in _DEFAULT_PORTS:
        raise InvalidURL(f"unsupported scheme {clip(scheme.group(1).lower())}: only http and https")
    if scheme and not text[scheme.end():].startswith("//"):
        raise InvalidURL(f"malformed: expected {scheme.group(1).lower()}://host/")
    url = normalize_url(text)
    host = host_of(url)
    problem = _host_problem(host)
    if problem:
        raise InvalidURL(problem)
    return url


def _host_problem(host: str) -> str | None:
    """Why `host` cannot be a site on the internet, or None."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            socket.inet_aton(host)
            return None
        except OSError:
            return f"not a valid IP address: {clip(host)}"
    if host == "localhost":
        return None
    labels = host.split(".")
    if len(labels) < 2:
        # A bare word ("pharmacy") is a typo far more often than an intranet name.
        if _LABEL.match(host):
            return f"not a host name: {clip(host)} has no domain (e.g. {host[:30]}.example)"
        return f"not a host name: {clip(host)}"
    if len(host) > 253:
        return "host name longer than 253 characters"
    bad = next((label for label in labels if not _LABEL.match(label)), None)
    if bad is not None:
        return f"not a valid host name: {clip(host)} (label {clip(bad, 30)})"
    if labels[-1].isdigit():
        return f"not a valid host name: {clip(host)} (a top-level domain is never a number)"
    return None


def _netloc(url: str) -> str:
    """The authority of an absolute URL without its user info, by string splits."""
    return url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]


def fast_host(url: str) -> str:
    """The host of an absolute URL by string splits (lower case, no trailing dot, "" if none):
    urlsplit costs ~40 us, and a page has hundreds of links. Not a validator: for URLs that
    were normalised or are only being classified."""
    netloc = _netloc(url)
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0].lower()
    return netloc.split(":", 1)[0].lower().rstrip(".")


def has_public_suffix(host: str) -> bool:
    """Whether `host` ends in a public suffix under a name ("shop.example.co.uk": yes; "e.g": no)."""
    return suffixes.registrable(host.lower().rstrip(".")) is not None


def registrable_domain(host_or_url: str) -> str:
    """`shop.example.co.uk` -> `example.co.uk`; IP addresses and bare names stay as they are."""
    if "://" in host_or_url:
        netloc = _netloc(host_or_url)
        if netloc.startswith("["):
            return netloc.split("]", 1)[0].strip("[").lower()
        host_or_url = netloc.split(":", 1)[0]
    return _domain_of_host(host_or_url.lower().rstrip("."))


@lru_cache(maxsize=16384)  # keyed by host, not URL: a page's links share a few hosts
def _domain_of_host(host: str) -> str:
    return suffixes.registrable(host) or host


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def without_scheme(url: str) -> str:
    """`x.example/a` of `https://x.example/a` (or of a defanged `hxxps://...`): by string split."""
    return url.split("://", 1)[-1]


def authority(url: str) -> str:
    """`user@x.example:8080` of `https://user@x.example:8080/a`, by string split: what a WARC
    request's Host header and a file name are made from (the URL is already normalised)."""
    return without_scheme(url).split("/", 1)[0]


def request_target(url: str) -> str:
    """`/a?b` of `https://x.example/a?b` ("/" for none), by string split: the path and query a
    request line asks for."""
    rest = without_scheme(url)
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


def scheme_of(url: str) -> str:
    """`https` of `https://x.example/` (lower case; "" when the text has none)."""
    return urlsplit(url).scheme


def origin_of(url: str) -> str:
    """`https://x.example:8443` of `https://x.example:8443/a?b`: scheme and authority."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def robots_url(url: str) -> str:
    """The robots.txt that governs `url` (RFC 9309: at the root of its origin)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))


def endpoint(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) a request to `url` connects to; the port is the scheme's default
    when the URL names none (80 unless https). ValueError on a port out of range."""
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def same_site(url: str, other: str) -> bool:
    return registrable_domain(host_of(url)) == registrable_domain(host_of(other))


def defang(url: str) -> str:
    """`https://rogue.example/x` -> `hxxps://rogue[.]example/x`, for reports people may click in.
    Anything that is not an http(s) URL keeps its text, with its dots defanged."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.netloc:
        return url.replace(".", "[.]")
    rest = url[url.index(parts.netloc) + len(parts.netloc) :]
    return f"{parts.scheme.lower().replace('http', 'hxxp')}://{parts.netloc.replace('.', '[.]')}{rest}"
