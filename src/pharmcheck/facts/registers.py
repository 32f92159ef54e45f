"""Register snapshots: offline copies of lists that registers and regulators publish (NABP's
Not Recommended list, a national register of online pharmacies...), imported from a
documented CSV with `pharmcheck registers import FILE`, and matched as allow/deny evidence by
the `register` matcher ("listed in NABP Not Recommended, 2026-11").

CSV format (UTF-8, a header line, one domain per row):

    domain,status,source,date
    cheap-meds-24.example,not_recommended,NABP Not Recommended,2026-11
    northbridge-pharmacy.example,registered,GPhC register,2026-11-20

`domain` a host or registrable domain (a row for example.com covers www.example.com);
`status` a word: for allow `registered`, `licensed`, `accredited`, `certified`, `verified`,
`legitimate`; for deny `not_recommended`, `rogue`, `unapproved`, `warning`, `blocked`;
`source` the list's name as a reader should see it; `date` YYYY-MM or YYYY-MM-DD, when the
list was taken. A snapshot is stored under its list name (the file's stem, or --name) in
$XDG_DATA_HOME/pharmcheck/registers (default ~/.local/share/...), where check and audit read it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pharmcheck.facts.interface import FactEnv, FactTarget, Need
from pharmcheck.facts.registry import register
from pharmcheck.fetch.base import Deadline
from pharmcheck.fetch.guard import literal_address
from pharmcheck.models import SiteFact

ALLOW_STATUSES = frozenset({"registered", "licensed", "accredited", "certified", "verified", "legitimate"})
DENY_STATUSES = frozenset({"not_recommended", "rogue", "unapproved", "warning", "blocked"})
COLUMNS = ("domain", "status", "source", "date")
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
_LIST_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
MAX_ROWS = 1_000_000


class RegisterError(ValueError):
    """A register CSV that cannot be imported (the message names the line)."""


@dataclass(frozen=True)
class RegisterEntry:
    domain: str
    status: str
    source: str
    date: str


def registers_dir() -> Path:
    root = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(root) / "pharmcheck" / "registers"


def parse_register_csv(text: str) -> list[RegisterEntry]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != COLUMNS:
        raise RegisterError(f"line 1: the header must be {','.join(COLUMNS)}")
    entries: list[RegisterEntry] = []
    for number, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(COLUMNS):
            raise RegisterError(f"line {number}: {len(row)} fields, expected {len(COLUMNS)} ({','.join(COLUMNS)})")
        domain, status, source, date = (cell.strip() for cell in row)
        domain = domain.lower().rstrip(".")
        domain = domain[4:] if domain.startswith("www.") else domain
        status = status.lower().replace(" ", "_").replace("-", "_")
        if not _DOMAIN.match(domain):
            raise RegisterError(f"line {number}: not a domain: {domain[:80]!r}")
        if status not in ALLOW_STATUSES | DENY_STATUSES:
            raise RegisterError(f"line {number}: unknown status {status[:40]!r} (allow: {', '.join(sorted(ALLOW_STATUSES))}; "
                                f"deny: {', '.join(sorted(DENY_STATUSES))})")
        if not source:
            raise RegisterError(f"line {number}: the source is empty")
        if not _DATE.match(date):
            raise RegisterError(f"line {number}: the date must be YYYY-MM or YYYY-MM-DD, not {date[:40]!r}")
        entries.append(RegisterEntry(domain, status, source[:200], date))
        if len(entries) > MAX_ROWS:
            raise RegisterError(f"more than {MAX_ROWS:,} rows")
    if not entries:
        raise RegisterError("no rows after the header")
    return entries


def import_register(path: Path, name: str | None = None) -> tuple[str, int, Path]:
    """Validate the CSV at `path` and store it as list `name` (default: the file's stem)."""
    list_name = (name or path.stem).lower()
    if not _LIST_NAME.match(list_name):
        raise RegisterError(f"list name {list_name!r}: use lower-case letters, digits, - and _ (--name NAME)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegisterError(f"cannot read {path}: {exc}") from exc
    entries = parse_register_csv(text)
    folder = registers_dir()
    target = folder / f"{list_name}.json"
    folder.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps({"list": list_name, "entries": [e.__dict__ for e in entries]}), encoding="utf-8")
    temporary.replace(target)
    return list_name, len(entries), target


Registers = dict[str, list[tuple[str, RegisterEntry]]]  # domain -> [(list name, entry)]


@lru_cache(maxsize=4)
def _load(folder: str, stamp: tuple[tuple[str, float], ...]) -> Registers:
    by_domain: Registers = {}
    for name, _ in stamp:
        try:
            data = json.loads((Path(folder) / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for row in data.get("entries", []):
            entry = RegisterEntry(**row)
            by_domain.setdefault(entry.domain, []).append((name, entry))
    return by_domain


def load_registers() -> tuple[Registers, list[str]]:
    """Every imported snapshot (re-read when one changes), and the list names."""
    folder = registers_dir()
    try:
        stamp = tuple(sorted((p.stem, p.stat().st_mtime) for p in folder.glob("*.json")))
    except OSError:
        return {}, []
    return (_load(str(folder), stamp), [name for name, _ in stamp]) if stamp else ({}, [])


class RegisterProvider:
    name = "register"
    needs = Need.host
    live = False  # local snapshots

    def gather(self, target: FactTarget, deadline: Deadline, env: FactEnv) -> SiteFact | None:
        host = target.host.lower().rstrip(".")
        if not host or literal_address(host) is not None:
            return None
        registers, lists = load_registers()
        if not lists:
            return None  # nothing imported: no fact, not "not listed"
        names = {host[4:] if host.startswith("www.") else host, target.domain.lower()}
        found = [{"list": name, "domain": entry.domain, "status": entry.status, "source": entry.source, "date": entry.date,
                  "allow": entry.status in ALLOW_STATUSES}
                 for domain in sorted(names) for name, entry in registers.get(domain, [])]
        return SiteFact(provider=self.name, subject=target.domain or host, source="register snapshots: " + ", ".join(lists),
                        gathered_at=env.now_iso(), data={"entries": found, "lists": lists})


register(RegisterProvider())
