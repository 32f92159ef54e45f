"""The IANA RDAP bootstrap file for domains (RFC 9224): which RDAP server answers for which
top-level domain. A dated snapshot ships in the package (facts/data/rdap_dns.json);
`pharmcheck facts update-bootstrap` fetches the current one from IANA into the user's cache
folder, which is then preferred when it is newer."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).resolve().parent / "data" / "rdap_dns.json"
IANA_URL = "https://data.iana.org/rdap/dns.json"


class BootstrapError(ValueError):
    """Not an RDAP bootstrap file."""


@dataclass(frozen=True)
class Bootstrap:
    publication: str
    bases: dict[str, tuple[str, ...]]  # tld (lower case, no dot) -> base URLs, https first
    path: str

    def base_for(self, domain: str) -> str | None:
        """The RDAP base URL for `domain`: the longest matching label suffix (RFC 9224 s4)."""
        labels = domain.lower().rstrip(".").split(".")
        for start in range(len(labels)):
            found = self.bases.get(".".join(labels[start:]))
            if found:
                return found[0]
        return None


def user_copy() -> Path:
    """Where `update-bootstrap` writes: $XDG_CACHE_HOME/pharmcheck (or ~/.cache/pharmcheck)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "pharmcheck" / "rdap_dns.json"


def parse_bootstrap(data: Any, path: str = "") -> Bootstrap:
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        raise BootstrapError("not an RDAP bootstrap file: no 'services' list")
    bases: dict[str, tuple[str, ...]] = {}
    for service in data["services"]:
        if (not isinstance(service, list) or len(service) < 2 or not isinstance(service[0], list)
                or not isinstance(service[1], list)):
            raise BootstrapError("not an RDAP bootstrap file: a service is not [[tlds], [urls]]")
        urls = [str(u) for u in service[1] if isinstance(u, str) and u.startswith(("https://", "http://"))]
        urls.sort(key=lambda u: not u.startswith("https://"))  # RFC 9224 s3: prefer https
        for tld in service[0]:
            if isinstance(tld, str) and urls:
                bases[tld.lower().strip(".")] = tuple(u if u.endswith("/") else u + "/" for u in urls)
    if not bases:
        raise BootstrapError("not an RDAP bootstrap file: no service has a URL")
    return Bootstrap(str(data.get("publication", "")), bases, path)


def _read(path: Path) -> Bootstrap:
    try:
        return parse_bootstrap(json.loads(path.read_text(encoding="utf-8")), str(path))
    except (OSError, ValueError) as exc:
        raise BootstrapError(f"{path}: {exc}") from exc


@lru_cache(maxsize=4)
def _load(user: str, mtime: float) -> Bootstrap:
    shipped = _read(SHIPPED)
    if user:
        try:
            mine = _read(Path(user))
        except BootstrapError:
            return shipped  # a broken download must not break checks
        if mine.publication >= shipped.publication:
            return mine
    return shipped


def load_bootstrap() -> Bootstrap:
    """The newest of the shipped snapshot and the user's refreshed copy."""
    copy = user_copy()
    try:
        mtime = copy.stat().st_mtime
    except OSError:
        return _load("", 0.0)
    return _load(str(copy), mtime)
