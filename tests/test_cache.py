"""The user cache: entries built once, shared by processes, ignored when corrupt or turned off;
and the language model served from it answers exactly as the shipped one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pharmcheck.cache import cache_dir, cached_dir, key_of


def write_answer(folder: Path) -> None:
    (folder / "answer.txt").write_text("42")


def read_answer(folder: Path) -> int:
    return int((folder / "answer.txt").read_text())


def test_an_entry_is_built_once_then_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("PHARMCHECK_CACHE_DIR", raising=False)
    builds: list[Path] = []

    def build(folder: Path) -> None:
        builds.append(folder)
        write_answer(folder)

    assert cached_dir("thing-1", build, read_answer) == 42
    assert cached_dir("thing-1", build, read_answer) == 42
    assert len(builds) == 1 and (tmp_path / "pharmcheck" / "thing-1" / "answer.txt").is_file()
    assert [p.name for p in (tmp_path / "pharmcheck").iterdir()] == ["thing-1"]  # no staging folder left


def test_a_corrupt_entry_is_rebuilt_and_a_failing_build_leaves_nothing(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHARMCHECK_CACHE_DIR", str(tmp_path))
    entry = tmp_path / "thing-2"
    entry.mkdir()
    (entry / "answer.txt").write_text("not a number")
    assert cached_dir("thing-2", write_answer, read_answer) == 42

    def broken(folder: Path) -> None:
        raise OSError("disk full")

    assert cached_dir("thing-3", broken, read_answer) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing-2"]


def test_the_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHARMCHECK_CACHE_DIR", "off")
    assert cache_dir() is None
    assert cached_dir("thing", write_answer, read_answer) is None


def test_keys_differ_whenever_an_input_does() -> None:
    assert key_of("a", "bc") != key_of("ab", "c")
    assert key_of("rules", b"x") == key_of("rules", b"x")


TEXTS = [
    "Our pharmacists answer questions about your prescription and deliver medicines to your door.",
    "Unsere Apotheke liefert rezeptfreie Arzneimittel schnell und sicher zu Ihnen nach Hause.",
    "Notre pharmacie en ligne vous livre vos médicaments sans ordonnance en quarante-huit heures.",
    "La nostra farmacia consegna i farmaci a domicilio in tutta Italia entro due giorni lavorativi.",
]
# The detected language and the model's own answer (language and probability, exactly).
DETECT = ("import json, sys; from pharmcheck.language import _model, detect_language;"
          "print(json.dumps([[detect_language(t), repr(_model().classify(t))] for t in json.loads(sys.argv[1])]))")


def test_the_cached_language_model_detects_what_the_shipped_one_does(tmp_path: Path) -> None:
    import json
    import os

    def run(cache: str) -> list[tuple[str, str]]:
        env = dict(os.environ, PHARMCHECK_CACHE_DIR=cache)
        done = subprocess.run([sys.executable, "-c", DETECT, json.dumps(TEXTS)], env=env, capture_output=True,
                              text=True, check=True)
        return [tuple(answer) for answer in json.loads(done.stdout)]

    shipped = run("off")
    assert [language for language, _ in shipped] == ["en", "de", "fr", "it"]
    assert run(str(tmp_path)) == shipped  # builds the entry
    assert any(p.name.startswith("langid-") for p in tmp_path.iterdir())
    assert run(str(tmp_path)) == shipped  # reads it


def test_rules_read_from_the_cache_are_the_rules_of_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pharmcheck.rules.load import read_yaml
    from pharmcheck.ruleset import RuleSet

    monkeypatch.setenv("PHARMCHECK_CACHE_DIR", "off")
    plain = RuleSet.load()
    monkeypatch.setenv("PHARMCHECK_CACHE_DIR", str(tmp_path))
    first, second = RuleSet.load(), RuleSet.load()  # writes the entries, then reads them
    assert any(p.name.startswith("yaml-") for p in tmp_path.iterdir())
    for loaded in (first, second):
        assert [r.rule for r in loaded.rules] == [r.rule for r in plain.rules]
        assert loaded.data == plain.data and loaded.scoring == plain.scoring
        assert loaded.model is not None and plain.model is not None
        assert loaded.model.to_dict() == plain.model.to_dict()  # the fitted verdict's model too
    # an edited file is read again, and a corrupt entry is ignored
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [a]\n")
    assert read_yaml(rules) == {"rules": ["a"]}
    rules.write_text("rules: [b]\n")
    assert read_yaml(rules) == {"rules": ["b"]}
    for entry in tmp_path.glob("yaml-*/data.marshal"):
        entry.write_bytes(b"\x00garbage")
    assert read_yaml(rules) == {"rules": ["b"]}
    assert [r.rule for r in RuleSet.load().rules] == [r.rule for r in plain.rules]
