"""A loaded rules folder, as one object: `RuleSet.load(path)` is the one loader.

It owns everything a check needs from the folder: the compiled rules, the scoring
(scoring.yaml: criteria, thresholds, rules_version), the data lists, the extraction-side
drug index, the fitted judgement (model.yaml) and a content hash of the folder. `check`,
`audit` (once per run in the parent, once per worker process for process and Dask runners),
`rules list/test/fit` and the Python API all go through it, so a folder is read, compiled
and indexed once per run.
"""

from __future__ import annotations

import gc
import hashlib
import marshal
import sys
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import re2
from pydantic import ValidationError

from pharmcheck.cache import file_stamp, key_of, load_entry, store_entry
from pharmcheck.errors import RuleError
from pharmcheck.extract import DrugIndex
from pharmcheck.judge.model import MODEL_FILE, JudgeModel, load_model
from pharmcheck.rules.compile import CompiledRule
from pharmcheck.rules.data import RuleSetData
from pharmcheck.rules.load import default_rules_dir, describe, load_data, load_rule_files, read_yaml
from pharmcheck.rules.textsearch import regex_ledger
from pharmcheck.score import ScoringConfig

SCORING_FILE = "scoring.yaml"


def load_scoring(directory: str | Path | None = None) -> ScoringConfig:
    """Only scoring.yaml of a rules folder (default: the shipped rules): cheap, nothing is
    compiled (the network finding of a stored run is scored with it). Raises RuleError."""
    path = rules_root(directory) / SCORING_FILE
    if not path.is_file():
        raise RuleError(f"{path}: missing (thresholds and weights live there)")
    try:
        return ScoringConfig.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise RuleError(f"{path}: {describe(exc)}") from exc


def rules_root(directory: str | Path | None) -> Path:
    """The rules folder meant by `directory` (None: the shipped rules)."""
    return Path(directory) if directory is not None else default_rules_dir()


@dataclass(eq=False)
class RuleSet:
    rules: list[CompiledRule]
    scoring: ScoringConfig
    data: RuleSetData
    source: Path
    files: dict[str, str] = field(default_factory=dict)  # rule id -> file it came from
    model: JudgeModel | None = None  # the fitted judgement (model.yaml); None: hand-set scoring
    _drug_index: DrugIndex | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def load(cls, directory: str | Path | None = None) -> RuleSet:
        """Load every rule under `directory` (default: the shipped rules). Raises RuleError."""
        root = rules_root(directory)
        if not root.is_dir():
            raise RuleError(f"{root}: rules directory not found")
        # The load allocates ~10^5 objects and frees few: the cyclic garbage collector, run
        # every 700 allocations, found nothing to free and was a fifth of the load's time.
        collecting = gc.isenabled()
        gc.disable()
        try:
            digest = folder_hash(root)
            ledger_entry = f"regexes-{key_of(sys.version, _re2_identity(), digest)}"
            known = load_entry(ledger_entry, _read_regexes)
            with regex_ledger(known or frozenset()) as ledger:
                scoring = load_scoring(root)
                data = load_data(root)
                rules, files = load_rule_files(root, data, scoring.criteria, skip=(root / SCORING_FILE, root / MODEL_FILE))
            if known is None:
                store_entry(ledger_entry, lambda folder: _write_regexes(folder, ledger.passed))
            ruleset = cls(rules=rules, scoring=scoring, data=data, source=root, files=files, model=load_model(root))
        finally:
            if collecting:
                gc.enable()
        ruleset.__dict__["content_hash"] = digest  # the cached_property, already computed
        return ruleset

    @property
    def version(self) -> str:
        """rules_version of scoring.yaml: what reports name as "rules"."""
        return self.scoring.rules_version

    @property
    def criteria(self) -> list[str]:
        """The criterion names, in scoring.yaml's order (the only place they are defined)."""
        return list(self.scoring.criteria)

    @property
    def drug_index(self) -> DrugIndex:
        """The extraction-side index of the drug names, built once per rule set (the first
        site's threads may ask at once: one builds it, the others wait)."""
        with self._lock:
            if self._drug_index is None:
                self._drug_index = DrugIndex(self.data.drugs)
            return self._drug_index

    @cached_property
    def content_hash(self) -> str:
        """A hash of every file of the folder (names and bytes): two rule sets with the same
        hash judge alike (with the same pharmcheck)."""
        return folder_hash(self.source)

    def get(self, rule_id: str) -> CompiledRule | None:
        return next((r for r in self.rules if r.rule.id == rule_id), None)


def folder_hash(root: Path) -> str:
    """A hash of every file of a rules folder (names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


# The regexes of a rules folder that passed the load's checks (Python's syntax, RE2 can run
# them) are kept in the user cache, keyed by the folder's content, Python and RE2: the next
# process that loads the same folder skips those checks and compiles each regex on first use
# (the checks' `re.compile` and RE2 compiles were ~40% of loading the shipped rules).
_REGEXES_FILE = "regexes.marshal"


def _re2_identity() -> str:
    library = Path(re2._re2.__file__)
    try:
        return file_stamp(library)
    except OSError:
        return str(library)


def _read_regexes(folder: Path) -> frozenset[tuple[int, str]]:
    items = marshal.loads((folder / _REGEXES_FILE).read_bytes())
    if not isinstance(items, list) or not all(
        isinstance(i, tuple) and len(i) == 2 and isinstance(i[0], int) and isinstance(i[1], str) for i in items
    ):
        raise ValueError("not a list of (flags, regex)")
    return frozenset(items)


def _write_regexes(folder: Path, passed: set[tuple[int, str]]) -> None:
    (folder / _REGEXES_FILE).write_bytes(marshal.dumps(sorted(passed)))
