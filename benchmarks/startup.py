"""CPU time of starting pharmcheck: `--version`, loading the shipped rules, and `check
--replay` of the bundled capture, each in a fresh process.

    python benchmarks/startup.py [--runs N] [--src DIR ...]

Each `--src` is a pharmcheck source folder (default: this checkout's src/); with two or
more, their runs are interleaved (A B A B ...) so that a shared, noisy machine weighs on
each alike, and the last column gives each folder's median CPU over the first one's. Times
are the child process's CPU (user + system, from getrusage; threads included) and its wall
time, medians of N runs. The user cache (pharmcheck/cache.py) is warm: one untimed run of
each first, as every run after the first on a machine is. So is Python's bytecode cache: the
children write it to a temporary folder (PYTHONPYCACHEPREFIX) even where
PYTHONDONTWRITEBYTECODE is set, as an installed package has its modules compiled at install;
`--no-bytecode` compiles every module of ours from source in every run instead (~70 ms more).
Targets: --version < 0.15 s, rules load < 150 ms, check --replay < 0.4 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NORTHBRIDGE = REPO / "examples" / "northbridge-pharmacy.warc.gz"
CHEAP_MEDS = REPO / "examples" / "cheap-meds-24.warc.gz"

# The rules load alone, in-process: what `RuleSet.load()` costs once its modules are imported.
RULES_LOAD = (
    "import time\n"
    "from pharmcheck.ruleset import RuleSet\n"
    "start = time.process_time()\n"
    "RuleSet.load()\n"
    "print(time.process_time() - start)\n"
)

CASES: list[tuple[str, list[str]]] = [
    ("pharmcheck --version", ["-m", "pharmcheck", "--version"]),
    ("rules load (in process, imports excluded)", ["-c", RULES_LOAD]),
    ("check --replay northbridge (whole process)",
     ["-m", "pharmcheck", "check", "https://www.northbridge-pharmacy.example/", "--replay", str(NORTHBRIDGE)]),
    ("check --replay cheap-meds-24 (whole process)",
     ["-m", "pharmcheck", "check", "https://cheap-meds-24.example/", "--replay", str(CHEAP_MEDS)]),
]


def run_once(src: Path, args: list[str], pycache: str | None) -> tuple[float, float]:
    """(CPU, wall) seconds of one fresh process (for the rules load: what it prints, twice)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode not in (0, 1):
        raise SystemExit(f"{src}: {' '.join(args[:3])} failed ({out.returncode}): {out.stderr.strip()[-300:]}")
    if args[0] == "-c":
        inside = float(out.stdout.strip().splitlines()[-1])
        return inside, inside
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--src", action="append", type=Path, help="a pharmcheck src/ folder (repeatable)")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="no bytecode cache: every module of ours compiled from source in every run")
    args = parser.parse_args()
    sources = [s.resolve() for s in (args.src or [REPO / "src"])]
    with tempfile.TemporaryDirectory(prefix="startup-pycache-") as pycache_root:
        pycache = None if args.no_bytecode else pycache_root
        print(f"{'case':<46}{'CPU s':>8}{'p25':>7}{'p75':>7}{'wall s':>8}{'x first':>9}  src "
              f"(medians of {args.runs} runs, interleaved)")
        for name, case in CASES:
            for src in sources:
                run_once(src, case, pycache)  # warm the user cache, the bytecode cache and the page cache
            times: dict[Path, list[tuple[float, float]]] = {src: [] for src in sources}
            for _ in range(args.runs):
                for src in sources:
                    times[src].append(run_once(src, case, pycache))
            first = statistics.median(cpu for cpu, _ in times[sources[0]])
            for src in sources:
                cpu = sorted(c for c, _ in times[src])
                q = statistics.quantiles(cpu, n=4) if len(cpu) > 1 else [cpu[0], cpu[0], cpu[0]]
                median = statistics.median(cpu)
                wall = statistics.median(w for _, w in times[src])
                print(f"{name:<46}{median:>8.3f}{q[0]:>7.3f}{q[2]:>7.3f}{wall:>8.3f}{median / first:>9.2f}  {src}")
    print("targets: --version < 0.15 s; rules load < 0.150 s; check --replay < 0.4 s")


if __name__ == "__main__":
    main()
