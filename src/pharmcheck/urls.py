"""URL normalisation and site identity (registrable domain), with no network access.

At the bottom of the package beside models: every stage speaks in URLs."""

from __future__ import annotations

import posixpath
import re
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import tldextract

# The bundled public-suffix snapshot only: fetching the live list at run time prints
# tracebacks offline, can hang, and caches a stale copy in the user's home.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

# Characters no host name has (spaces, controls, URL delimiters that urlsplit let through).
_BAD_HOST_CHARS = re.compile(r"[\s\x00-\x1f\x7f<>\"{}|\\^`%]")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_QUERY_START = re.compile(r"[?#]")
# "scheme:" at the start of a URL, unless it is "host:port" (a bare domain with a port).
_SCHEME_PREFIX = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):(?!\d+(?:[/?#]|$))")
# Characters left as they are when re-quoting a path or query.
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = _SAFE_PATH + "?"


class InvalidURL(ValueError):
    pass


def _idna_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if not host:
        raise InvalidURL("no host")
    if host.startswith("[") or ":" in host:  # IPv6 literal
        return host.strip("[]")
    if _BAD_HOST_CHARS.search(host):
        raise InvalidURL(f"bad host name {host!r}")
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
                    raise InvalidURL(f"bad host name {host!r}") from exc
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
        raise InvalidURL(str(exc)) from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidURL(f"unsupported scheme {scheme!r}: only http and https")
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


def registrable_domain(host_or_url: str) -> str:
    """`shop.example.co.uk` -> `example.co.uk`; IP addresses and bare names stay as they are."""
    if "://" in host_or_url:
        host_or_url = host_or_url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
        if host_or_url.startswith("["):
            return host_or_url.split("]", 1)[0].strip("[").lower()
        host_or_url = host_or_url.split(":", 1)[0]
    return _domain_of_host(host_or_url.lower().rstrip("."))


@lru_cache(maxsize=16384)  # keyed by host, not URL: a page's links share a few hosts
def _domain_of_host(host: str) -> str:
    ext = _EXTRACT(host)
    return ext.top_domain_under_public_suffix if ext.suffix and ext.domain else host


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


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
