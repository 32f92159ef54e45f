"""What a check loads: `check --replay` of a capture imports no library it does not use
(DNS, X.509, asyncio for the browser, fsspec through warcio); the fact providers that do use
them are tested in test_facts.py. Times are benchmarks/startup.py's business."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PUT_OFF = ("dns", "cryptography", "asyncio", "fsspec", "playwright")


def _in_child(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_replayed_check_imports_no_library_it_does_not_use() -> None:
    code = (
        "import json, sys; from pharmcheck.cli import main;"
        f"code = main(['check', 'https://www.northbridge-pharmacy.example/', '--replay', "
        f"{str(EXAMPLES / 'northbridge-pharmacy.warc.gz')!r}, '--format', 'json', '-o', '-', '-q']);"
        f"print(); print(json.dumps([code] + [m for m in {PUT_OFF!r} if m in sys.modules]))"
    )
    assert _in_child(code) == [0]
