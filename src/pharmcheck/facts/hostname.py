"""Host-name facts (no network): what the name itself says. Its Unicode form when it is
punycode, its words, the scripts it mixes, and its "skeleton": the name with look-alike
letters (Cyrillic "а", Greek "ο", digits for letters) folded to the Latin ones they imitate,
so that a rule can compare it with drug names and wordings ("rx", "meds", "no-prescription")
from the rules' data lists (the `host_name` matcher)."""

from __future__ import annotations

import re
import unicodedata

import idna

from pharmcheck.facts.interface import FactEnv, FactTarget, Need
from pharmcheck.facts.registry import register
from pharmcheck.fetch.base import Deadline
from pharmcheck.fetch.guard import literal_address
from pharmcheck.models import SiteFact

# Letters of other scripts drawn like Latin ones (a subset of Unicode's confusables.txt:
# the ones seen in look-alike domains), and the digits used for letters.
CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "һ": "h", "ӏ": "l", "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ɡ": "g", "ı": "i", "ɩ": "i", "ǀ": "l", "ⅼ": "l",
}
DIGIT_LETTERS = {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"}
_WORD = re.compile(r"[^\W_]+")


def _script(ch: str) -> str:
    if ch.isascii():
        return "latin" if ch.isalpha() else ""
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0].lower() if ch.isalpha() and name else ""


def host_unicode(host: str) -> str:
    try:
        return idna.decode(host)
    except (idna.IDNAError, UnicodeError, ValueError):
        return host


def skeleton(text: str, digits: bool = False) -> str:
    """`text` with look-alike letters folded to Latin (and, with `digits`, 0->o, 1->l...)."""
    folded = "".join(CONFUSABLES.get(ch, ch) for ch in unicodedata.normalize("NFKC", text.lower()))
    if digits:
        folded = "".join(DIGIT_LETTERS.get(ch, ch) for ch in folded)
    return folded


class HostNameProvider:
    name = "hostname"
    needs = Need.host
    live = False

    def gather(self, target: FactTarget, deadline: Deadline, env: FactEnv) -> SiteFact | None:
        host = target.host.lower().rstrip(".")
        if not host or literal_address(host) is not None:
            return None  # an address says nothing about itself
        unicode_host = host_unicode(host)
        scripts = sorted({s for ch in unicode_host for s in [_script(ch)] if s})
        skel = skeleton(unicode_host)
        data = {
            "host": host,
            "unicode": unicode_host,
            "punycode": any(label.startswith("xn--") for label in host.split(".")),
            "scripts": scripts,
            "mixed_scripts": len(scripts) > 1,
            "skeleton": skel,
            "confusable": skel != unicode_host.lower() and skel.isascii(),
            "words": _WORD.findall(skel),
        }
        return SiteFact(provider=self.name, subject=host, source="host name", gathered_at=env.now_iso(), data=data)


register(HostNameProvider())
