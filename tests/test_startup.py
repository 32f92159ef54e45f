"""What a check loads: `check --replay` of a capture imports no library it does not use
(DNS, X.509 and TLS, asyncio for the browser, fsspec through warcio, the HTTP stack: requests, urllib3,
and tldextract, which imports them; the audit runner and multiprocessing, of which building the parser
needed only `--runner`'s choices; the report formats it does not render: jinja2 for HTML, SARIF);
the fact providers and transports that do use them are
tested in test_facts.py and test_fetch*.py. Times are benchmarks/startup.py's business."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PUT_OFF = ("dns", "cryptography", "ssl", "asyncio", "fsspec", "playwright", "requests", "urllib3", "tldextract",
           "multiprocessing", "pharmcheck.audit.runner")


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


# A check renders one format: report/format.py's table names the rest without importing them.
OTHER_FORMATS = ("jinja2", "markupsafe", "pharmcheck.report.html", "pharmcheck.report.sarif",
                 "pharmcheck.report.markdown", "pharmcheck.report.tabular")


@pytest.mark.parametrize(("fmt", "rendered"), [("text", "pharmcheck.report.text"), ("json", "pharmcheck.report.json")])
def test_a_replayed_check_imports_only_the_report_format_it_renders(fmt: str, rendered: str) -> None:
    code = (
        "import json, os, sys; from pharmcheck.cli import main;"
        f"code = main(['check', 'https://www.northbridge-pharmacy.example/', '--replay', "
        f"{str(EXAMPLES / 'northbridge-pharmacy.warc.gz')!r}, '--format', {fmt!r}, '-o', os.devnull, '-q']);"
        f"print(); print(json.dumps([code, {rendered!r} in sys.modules] + [m for m in {OTHER_FORMATS!r} if m in sys.modules]))"
    )
    assert _in_child(code) == [0, True]


def _threads_after_check(env: dict[str, str]) -> int:
    """Threads of a process (OS threads: numpy's BLAS pool included) after a replayed check."""
    code = (
        "import json, os; from pharmcheck.cli import main;"
        f"code = main(['check', 'https://www.northbridge-pharmacy.example/', '--replay', "
        f"{str(EXAMPLES / 'northbridge-pharmacy.warc.gz')!r}, '-o', os.devnull, '-q']);"
        "print(); print(json.dumps([code, len(os.listdir('/proc/self/task'))]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, env=env)
    code_and_threads = json.loads(done.stdout.strip().splitlines()[-1])
    assert code_and_threads[0] == 0
    return int(code_and_threads[1])


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through /proc (Linux)")
def test_a_check_runs_on_one_thread_unless_the_user_sets_openblas_threads() -> None:
    # numpy's BLAS pool (a thread per core, spinning on start) did nothing for a check's
    # small vector products but burn CPU; a user's own OPENBLAS_NUM_THREADS is kept.
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _threads_after_check(env) == 1
    if (os.cpu_count() or 1) >= 2:  # OpenBLAS starts no more threads than cores
        assert _threads_after_check({**env, "OPENBLAS_NUM_THREADS": "2"}) == 2


def test_the_program_keeps_its_modules_and_rules_out_of_the_collectors_sight_but_a_caller_of_main_is_left_alone() -> None:
    # Run as the program, what lives until exit (modules, parser, rules) is frozen (no
    # collection scans it again); a caller's own objects are never frozen by main([...]).
    check = ["check", "https://www.northbridge-pharmacy.example/", "--replay",
             str(EXAMPLES / "northbridge-pharmacy.warc.gz"), "-o", os.devnull, "-q"]
    # The program ends a check within main() (see the next test): its atexit handlers tell.
    as_program = (f"import atexit, gc, json, sys; sys.argv = ['pharmcheck', *{check!r}]; from pharmcheck.cli import main;"
                  "atexit.register(lambda: print('\\n' + json.dumps([0, gc.get_freeze_count()])));"
                  "main(); print('main returned')")
    as_function = (f"import gc, json; from pharmcheck.cli import main; code = main({check!r});"
                   "print(); print(json.dumps([code, gc.get_freeze_count()]))")
    program_code, frozen = _in_child(as_program)
    function_code, frozen_by_call = _in_child(as_function)
    assert (program_code, function_code) == (0, 0)
    assert frozen > 10_000 and frozen_by_call == 0


def _warc_records(path: Path) -> list[tuple[str, str]]:
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        return [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI") or "") for r in ArchiveIterator(fh)]


def test_a_check_run_as_the_program_ends_with_its_files_whole_and_its_exit_code(tmp_path: Path) -> None:
    # The program ends a check without Python's teardown (cli/heap.py): the report, the
    # --save-warc capture and stdout must still be complete, and the exit code the verdict's.
    def program(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pharmcheck", "check", *args], capture_output=True, text=True,
                              timeout=120, check=False)

    northbridge = ["https://www.northbridge-pharmacy.example/", "--replay", str(EXAMPLES / "northbridge-pharmacy.warc.gz")]
    done = program(*northbridge, "--format", "json", "-o", str(tmp_path / "report.json"),
                   "--save-warc", str(tmp_path / "saved.warc.gz"))
    assert done.returncode == 0, done.stderr
    code = (
        "import json, sys; from pharmcheck.cli import main;"
        f"code = main(['check', *{northbridge!r}, '--format', 'json', '-o', {str(tmp_path / 'called.json')!r},"
        f" '--save-warc', {str(tmp_path / 'called.warc.gz')!r}, '-q']); print(); print(json.dumps([code]))"
    )
    assert _in_child(code) == [0]
    ours, called = (json.loads((tmp_path / name).read_text()) for name in ("report.json", "called.json"))
    for report in (ours, called):
        report.pop("checked_at"), report.pop("duration")
    assert ours == called
    saved = _warc_records(tmp_path / "saved.warc.gz")
    assert saved == _warc_records(tmp_path / "called.warc.gz") and len(saved) > 4
    piped = program(*northbridge)
    assert piped.returncode == 0 and piped.stdout.startswith("https://www.northbridge-pharmacy.example/")
    assert "verdict: LEGITIMATE" in piped.stdout and piped.stdout.endswith("\n")
    rogue = program("https://cheap-meds-24.example/", "--replay", str(EXAMPLES / "cheap-meds-24.warc.gz"), "-q")
    assert rogue.returncode == 1 and "ROGUE" in rogue.stdout


def test_a_check_whose_rules_are_in_the_user_cache_imports_no_yaml_library() -> None:
    # The rule files, the data lists and the fitted model are read back from the user cache
    # after the first load: parsing YAML (and importing PyYAML, ~7 ms) is for a changed file.
    code = (
        "import json, os, sys; from pharmcheck.cli import main;"
        f"code = main(['check', 'https://www.northbridge-pharmacy.example/', '--replay', "
        f"{str(EXAMPLES / 'northbridge-pharmacy.warc.gz')!r}, '-o', os.devnull, '-q']);"
        "print(); print(json.dumps([code, 'yaml' in sys.modules]))"
    )
    _in_child(code)  # fills the cache if this run of the tests has not yet
    assert _in_child(code) == [0, False]
