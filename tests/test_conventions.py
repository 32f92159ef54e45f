"""The conventions of the field's command-line tools: a config file and PHARMCHECK_* variables
with a documented precedence, colour only on a terminal, progress for a live check, -q/-v,
--help with examples and exit codes, and shell completion."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pharmcheck.cli import main
from pharmcheck.console import CheckProgress, painter, use_color
from pharmcheck.models import ExitCode
from sitekit import EXAMPLES

ROGUE = ["https://cheap-meds-24.example/", "--replay", str(EXAMPLES / "cheap-meds-24.warc.gz")]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """`pharmcheck ARGS` in this process, in folder `cwd`, with exactly `env` added to an
    environment cleared of PHARMCHECK_* and NO_COLOR (in-process: no interpreter start-up)."""

    def invoke(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Result:
        with monkeypatch.context() as m:
            for name in list(os.environ):
                if name.startswith("PHARMCHECK_") or name == "NO_COLOR":
                    m.delenv(name)
            for name, value in (env or {}).items():
                m.setenv(name, value)
            m.chdir(cwd)
            capsys.readouterr()
            code = main(args)
            out, err = capsys.readouterr()
        return Result(code, out, err)

    return invoke


def run_process(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PHARMCHECK_")}
    base["PYTHONPATH"] = os.pathsep.join(sys.path)
    return subprocess.run([sys.executable, "-m", "pharmcheck", *args], cwd=cwd, env={**base, **env},
                          capture_output=True, text=True, check=False)


def pages_read(result: Result) -> int:
    return len(json.loads(result.stdout)["pages"])


# --- config file and environment ------------------------------------------------------------


def test_precedence_defaults_file_environment_command_line(tmp_path: Path, run: Callable[..., Result]) -> None:
    base = ["check", *ROGUE, "--format", "json"]
    assert pages_read(run(base, tmp_path)) == 6  # built-in default (10) reads the whole capture
    (tmp_path / "pharmcheck.toml").write_text("max-pages = 3\n")
    assert pages_read(run(base, tmp_path)) == 3  # the file
    assert pages_read(run(base, tmp_path, {"PHARMCHECK_MAX_PAGES": "2"})) == 2  # environment beats the file
    assert pages_read(run([*base, "--max-pages", "1"], tmp_path, {"PHARMCHECK_MAX_PAGES": "2"})) == 1  # argv wins


def test_pyproject_table_and_per_command_tables(tmp_path: Path, run: Callable[..., Result]) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop-audits"\n\n[tool.pharmcheck]\nmax_pages = 4\nfail-on = "suspicious"\n\n'
        "[tool.pharmcheck.check]\nmax-pages = 2\n")
    result = run(["check", *ROGUE, "--format", "json"], tmp_path)
    assert pages_read(result) == 2  # [tool.pharmcheck.check] beats the top level for check
    assert result.returncode == ExitCode.FAIL_ON


def test_explicit_config_and_its_errors(tmp_path: Path, run: Callable[..., Result]) -> None:
    cfg = tmp_path / "audits.toml"
    cfg.write_text("max-pages = 1\n")
    assert pages_read(run(["--config", str(cfg), "check", *ROGUE, "--format", "json"], tmp_path)) == 1
    assert pages_read(run(["check", *ROGUE, "--format", "json"], tmp_path, {"PHARMCHECK_CONFIG": str(cfg)})) == 1
    cfg.write_text("max-pagez = 1\n")
    bad = run(["--config", str(cfg), "check", *ROGUE], tmp_path)
    assert bad.returncode == ExitCode.USAGE and "unknown option 'max-pagez'" in bad.stderr
    assert bad.stderr.count("\n") == 1
    cfg.write_text("max-pages = 0\n")
    bad = run(["--config", str(cfg), "check", *ROGUE], tmp_path)
    assert bad.returncode == ExitCode.USAGE and "max-pages" in bad.stderr and "at least 1" in bad.stderr
    bad = run(["check", *ROGUE], tmp_path, {"PHARMCHECK_ALLOW_PRIVATE": "maybe"})
    assert bad.returncode == ExitCode.USAGE and "PHARMCHECK_ALLOW_PRIVATE" in bad.stderr
    (tmp_path / "broken.toml").write_text("max-pages = [\n")
    bad = run(["--config", str(tmp_path / "broken.toml"), "check", *ROGUE], tmp_path)
    assert bad.returncode == ExitCode.USAGE and "not valid TOML" in bad.stderr
    bad = run(["--config", str(tmp_path / "none.toml"), "check", *ROGUE], tmp_path)
    assert bad.returncode == ExitCode.USAGE and "config file not found" in bad.stderr


# --- colour -----------------------------------------------------------------------------------


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert use_color("auto", Tty(), env={"TERM": "xterm"})
    assert not use_color("auto", io.StringIO(), env={"TERM": "xterm"})  # piped
    assert not use_color("auto", Tty(), env={"TERM": "xterm", "NO_COLOR": "1"})
    assert not use_color("auto", Tty(), env={"TERM": "dumb"})
    assert use_color("always", io.StringIO(), env={"NO_COLOR": "1"})
    assert not use_color("never", Tty(), env={})
    assert painter(True)("ROGUE", "rogue").startswith("\x1b[")
    assert painter(False)("ROGUE", "rogue") == "ROGUE"


def test_text_report_is_coloured_with_color_always_and_plain_when_piped(tmp_path: Path, run: Callable[..., Result]) -> None:
    piped = run(["check", *ROGUE], tmp_path)
    assert "\x1b[" not in piped.stdout and "verdict: ROGUE" in piped.stdout
    coloured = run(["check", *ROGUE, "--color", "always"], tmp_path)
    assert "\x1b[" in coloured.stdout and "ROGUE" in coloured.stdout
    assert "\x1b[" not in run(["check", *ROGUE, "--color", "never"], tmp_path).stdout
    assert "\x1b[" in run(["check", *ROGUE], tmp_path, {"PHARMCHECK_COLOR": "always"}).stdout
    # Colour is added around our words; the words themselves are the same.
    import re

    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured.stdout) == piped.stdout


# --- progress, -q and -v ----------------------------------------------------------------------


def test_progress_shows_pages_fetched_and_the_current_url_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Tty()
    with CheckProgress(screen, max_pages=10, enabled=True) as progress:
        progress.fetching("https://shop.example/about", 3)
        assert progress.line().startswith("pages fetched 3/10")
        assert "https://shop.example/about" in progress.line()
    silent = io.StringIO()
    with CheckProgress(silent, max_pages=10, enabled=False) as progress:
        progress.fetching("https://shop.example/", 0)
    assert silent.getvalue() == ""


def test_check_reports_progress_to_its_callback_for_every_page() -> None:
    from pharmcheck.check import CheckContext, check_site
    from pharmcheck.fetch import ArchiveIndex
    from pharmcheck.ruleset import RuleSet

    seen: list[tuple[str, int]] = []
    ctx = CheckContext(ruleset=RuleSet.load(), archive=ArchiveIndex(ROGUE[2]), on_fetch=lambda u, n: seen.append((u, n)))
    report = check_site(ROGUE[0], ctx)
    assert [n for _, n in seen] == list(range(len(report.pages)))
    assert seen[0][0] == ROGUE[0] and [u for u, _ in seen] == [p.url for p in report.pages]


def test_piped_check_prints_no_progress_and_quiet_prints_nothing_but_errors(tmp_path: Path, run: Callable[..., Result]) -> None:
    out = tmp_path / "r.json"
    piped = run(["check", *ROGUE, "--format", "json", "-o", str(out)], tmp_path)
    assert piped.stderr.strip().endswith("rogue (score 0)") and "pages fetched" not in piped.stderr
    quiet = run(["check", *ROGUE, "--format", "json", "-o", str(out), "-q"], tmp_path)
    assert quiet.stderr == "" and quiet.returncode == ExitCode.FAIL_ON
    bad = run(["check", "pharmacy", "-q"], tmp_path)
    assert bad.returncode == ExitCode.USAGE and "invalid URL" in bad.stderr  # errors still show


def test_verbose_logs_each_request(tmp_path: Path, run: Callable[..., Result]) -> None:
    info = run(["check", *ROGUE, "-v", "-o", str(tmp_path / "r.txt")], tmp_path)
    assert "pharmcheck: INFO: checking https://cheap-meds-24.example/" in info.stderr
    debug = run(["check", *ROGUE, "--log-level", "debug", "-o", str(tmp_path / "r.txt")], tmp_path)
    assert "DEBUG: GET https://cheap-meds-24.example/payment: HTTP 200" in debug.stderr
    assert run(["check", *ROGUE, "-o", str(tmp_path / "r.txt")], tmp_path).stderr.count("\n") == 1


# --- help and completion ----------------------------------------------------------------------


def test_help_has_examples_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ([], ["check"], ["audit"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        text = capsys.readouterr().out
        assert "examples:" in text and "exit codes:" in text, command
        assert "130" in text and "PHARMCHECK_" in text
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    assert "pharmcheck check pharmacy.example --format json" in capsys.readouterr().out


def test_shell_completion_completes_commands_and_options(tmp_path: Path, run: Callable[..., Result]) -> None:
    env = {"_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": "\n", "COMP_LINE": "pharmcheck check --max-p",
           "COMP_POINT": str(len("pharmcheck check --max-p")), "_ARGCOMPLETE_STDOUT_FILENAME": str(tmp_path / "c")}
    run_process([], tmp_path, env)
    assert [c.strip() for c in (tmp_path / "c").read_text().split("\n")] == ["--max-pages"]
    env["COMP_LINE"] = env["COMP_LINE"].replace("check --max-p", "au")
    env["COMP_POINT"] = str(len(env["COMP_LINE"]))
    run_process([], tmp_path, env)
    assert "audit" in [c.strip() for c in (tmp_path / "c").read_text().split("\n")]
    script = run(["completion", "bash"], tmp_path)
    assert script.returncode == 0 and "complete" in script.stdout and "pharmcheck" in script.stdout


def test_config_reaches_the_rules_actions(tmp_path: Path, run: Callable[..., Result]) -> None:
    import shutil

    from pharmcheck.rules.load import default_rules_dir

    mine = tmp_path / "house-rules"
    shutil.copytree(default_rules_dir(), mine)
    # a shared `format` meant for check does not break `rules list`, whose formats are text/json
    (tmp_path / "pharmcheck.toml").write_text(f'format = "html"\nrules = "{mine.as_posix()}"\n')
    listed = run(["rules", "list"], tmp_path)
    assert listed.returncode == ExitCode.OK, listed.stderr
    assert listed.stdout.rstrip().endswith(f"from {mine}")
    (tmp_path / "pharmcheck.toml").write_text(f'[rules]\nrules = "{(tmp_path / "none").as_posix()}"\n')
    missing = run(["rules", "test"], tmp_path)
    assert missing.returncode == ExitCode.USAGE and "none" in missing.stderr
    assert run(["rules", "list", "--format", "json"], tmp_path, {"PHARMCHECK_RULES": str(mine)}).returncode == 0
    # the audit actions too: a shared html format does not break `audit networks` (table/json)
    (tmp_path / "pharmcheck.toml").write_text('format = "html"\n')
    result = run(["audit", "networks", "--db", str(tmp_path / "x.db")], tmp_path)
    assert "database not found" in result.stderr and "format" not in result.stderr
