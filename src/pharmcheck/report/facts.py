"""Site facts (Report.facts) in words, for the text, HTML and Markdown reports: one line per
fact, said by its provider's describer (registered by provider name; an unknown provider's
fields are listed as they are)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pharmcheck.models import SiteFact

MAX_LISTED = 4  # names, status codes... shown in a line; the JSON report has all of them


def _listed(values: list[Any]) -> str:
    shown = ", ".join(str(v) for v in values[:MAX_LISTED])
    return shown + (f" (+{len(values) - MAX_LISTED})" if len(values) > MAX_LISTED else "")


def _date(value: Any) -> str:
    return str(value or "")[:10]


def _rdap(data: dict[str, Any]) -> str:
    parts = []
    if data.get("registered"):
        parts.append(f"registered {_date(data['registered'])}")
    if data.get("expires"):
        parts.append(f"expires {_date(data['expires'])}")
    if data.get("last_changed"):
        parts.append(f"changed {_date(data['last_changed'])}")
    if data.get("registrar"):
        parts.append(f"registrar {data['registrar']}")
    if data.get("privacy_service"):
        parts.append("registrant: a privacy service")
    elif data.get("redacted"):
        parts.append("registrant withheld")
    elif data.get("registrant"):
        parts.append(f"registrant {data['registrant']}")
    if data.get("status"):
        parts.append("status " + _listed(data["status"]))
    if data.get("nameservers"):
        parts.append("nameservers " + _listed(data["nameservers"]))
    return "; ".join(parts) or "no registration data"


def _tls(data: dict[str, Any]) -> str:
    parts = [f"issued by {data.get('issuer_cn') or data.get('issuer', '?')} to {data.get('subject_cn') or data.get('subject', '?')}",
             f"valid {_date(data.get('not_before'))} to {_date(data.get('not_after'))}"]
    for flag, words in (("self_signed", "SELF-SIGNED"), ("expired", "EXPIRED"), ("not_yet_valid", "NOT YET VALID")):
        if data.get(flag):
            parts.append(words)
    if data.get("trusted") is False:
        parts.append("not trusted" + (f" ({data['verify_error']})" if data.get("verify_error") else ""))
    if data.get("sans"):
        parts.append(f"{len(data['sans'])} names: " + _listed(data["sans"]))
    return "; ".join(parts)


def _hostname(data: dict[str, Any]) -> str:
    parts = [f"words {_listed(data.get('words', []))}"]
    if data.get("punycode"):
        parts.append(f"punycode for {data.get('unicode', '')}")
    if data.get("confusable"):
        parts.append(f"look-alike letters imitating {data.get('skeleton', '')}")
    if data.get("mixed_scripts"):
        parts.append("mixes scripts " + _listed(data.get("scripts", [])))
    return "; ".join(parts)


def _dns(data: dict[str, Any]) -> str:
    parts = []
    if data.get("nxdomain"):
        parts.append("no such name: " + _listed(data["nxdomain"]))
    addresses = [*data.get("a", []), *data.get("aaaa", [])]
    if addresses:
        parts.append("addresses " + _listed(addresses))
    if data.get("private"):
        parts.append("NON-PUBLIC " + _listed(data["private"]))
    parts.append("mail " + _listed(data["mx"]) if data.get("mx") else "no mail server (MX)")
    if data.get("ns"):
        parts.append("nameservers " + _listed(data["ns"]))
    return "; ".join(parts)


def _register(data: dict[str, Any]) -> str:
    entries = data.get("entries", [])
    if not entries:
        return "in none of the imported lists (" + _listed(data.get("lists", [])) + ")"
    return "; ".join(f"listed in {e.get('source')} ({e.get('status')}), {e.get('date')}" for e in entries[:MAX_LISTED])


def _generic(data: dict[str, Any]) -> str:
    return "; ".join(f"{k} {_listed(v) if isinstance(v, list) else v}" for k, v in data.items()) or "no data"


DESCRIBERS: dict[str, Callable[[dict[str, Any]], str]] = {"rdap": _rdap, "tls": _tls, "hostname": _hostname, "dns": _dns,
                                                          "register": _register}


def describe_fact(fact: SiteFact) -> str:
    """What the fact says, in one line ("could not check: why" when it could not be checked)."""
    if not fact.ok:
        return f"could not check: {fact.reason}"
    return DESCRIBERS.get(fact.provider, _generic)(fact.data)
