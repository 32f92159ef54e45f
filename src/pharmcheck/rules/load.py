"""Read and validate the parts of a rules folder: rule files (compiled) and rules/data/*.yaml.

The folder as a whole (with scoring.yaml and the fitted model) is `pharmcheck.ruleset.RuleSet`,
whose `RuleSet.load` is the one loader; this module knows only the rules stage's own files."""

from __future__ import annotations

import importlib.util
import marshal
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pharmcheck.errors import RuleError
from pharmcheck.models import DrugLexicon
from pharmcheck.rules.compile import CompiledRule, CompileError, attach_phrase_book, compile_rule
from pharmcheck.rules.schema import Register, Rule, RuleSetData, SealData


def _loader() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~10x faster


@lru_cache(maxsize=1)
def _yaml_identity() -> str:
    """Which YAML library parses, for the cache key, without importing it (~7 ms that a load
    from the cache does not need): its files' names, sizes and times (its C parser's too), as
    the language model's key names its file."""
    from pharmcheck.cache import file_stamp

    spec = importlib.util.find_spec("yaml")
    if spec is None or not spec.submodule_search_locations:
        return "no yaml"
    folder = Path(next(iter(spec.submodule_search_locations)))
    return "|".join(file_stamp(path) for path in sorted(folder.iterdir())
                    if path.name == "__init__.py" or path.name.startswith("_yaml."))

# Bounds on "@name" lists naming other lists: without them nine lines that each name the
# previous list ten times expand to a billion items (a billion-laughs through the data).
MAX_LIST_ITEMS = 100_000  # items of one list once every "@name" in it is expanded
MAX_LIST_DEPTH = 8  # lists naming lists naming lists...


def default_rules_dir() -> Path:
    """The rules shipped in the wheel, or the repo's rules/ in a source checkout."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_rules"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "rules"


def read_yaml(path: Path) -> Any:
    """A YAML file of the rules folder; RuleError (with the line) if it cannot be read.

    What a file parses to is kept in the user cache (pharmcheck/cache.py), keyed by its bytes
    and the YAML library's version: parsing the shipped rules was ~50 ms of every process
    that loads them (each audit worker process too); reading the parsed form back is ~5 ms."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    from pharmcheck.cache import cached_dir, key_of

    parsed: list[Any] = []

    def build(folder: Path) -> None:
        parsed.append(_parse_yaml(path))
        (folder / "data.marshal").write_bytes(marshal.dumps(parsed[0]))  # ValueError for a type marshal lacks

    def load(folder: Path) -> Any:
        return parsed[0] if parsed else marshal.loads((folder / "data.marshal").read_bytes())

    found = cached_dir(f"yaml-{key_of(_yaml_identity(), raw)}", build, load)
    if found is not None:
        return found
    return parsed[0] if parsed else _parse_yaml(path)


def _parse_yaml(path: Path) -> Any:
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_loader())
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RuleError(f"{path}:{where}: invalid YAML: {problem}") from exc


def describe(exc: ValidationError) -> str:
    """The first problem of a validation error, as "field.path: message"."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function-after", "union")))
    return f"{loc}: {err['msg']}" if loc else err["msg"]


def load_data(directory: Path) -> RuleSetData:
    data = RuleSetData()
    data_dir = directory / "data"
    if not data_dir.is_dir():
        return data
    origins: dict[str, Path] = {}  # list name -> the file that defines it
    for path in sorted(data_dir.glob("*.yaml")):
        content = read_yaml(path)
        name = path.stem
        try:
            if name == "drugs":
                data.drugs = DrugLexicon.model_validate(content)
            elif name == "seals":
                data.seals = SealData.model_validate(content)
            elif name == "inflections" and isinstance(content, dict):
                data.inflections = _inflections(path, content.get("inflections"))
            elif name == "registers" and isinstance(content, dict):
                for key, value in content.items():
                    data.registers[key] = [Register.model_validate(v) for v in value]
                    # "@<key>_domains": every register host, for link rules
                    data.lists[f"{key}_domains"] = sorted({d for r in data.registers[key] for d in r.domains})
            if isinstance(content, dict):
                # Every top-level list of strings is also a named list usable as "@name".
                for key, value in content.items():
                    if isinstance(value, list) and all(isinstance(v, str) for v in value):
                        data.lists[key] = value
                        origins[key] = path
            elif content is not None:
                raise RuleError(f"{path}: a data file is a mapping of names to lists")
        except ValidationError as exc:
            raise RuleError(f"{path}: {describe(exc)}") from exc
    for issuer in data.seals.issuers:
        if issuer.registers:
            if issuer.registers not in data.registers:
                raise RuleError(f"{data_dir / 'seals.yaml'}: {issuer.id}: unknown register list {issuer.registers!r}")
            registers = data.registers[issuer.registers]
            shapes = [issuer.verify] if isinstance(issuer.verify, str) and issuer.verify else list(issuer.verify or [])
            issuer.domains = sorted(set(issuer.domains) | {d for r in registers for d in r.domains})
            issuer.verify = shapes + [v for r in registers for v in r.verify]
    if data.drugs.drugs:
        data.lists.setdefault("drug_names", sorted({n for d in data.drugs.drugs for n in [d.name, *d.synonyms]}))
    check_list_sizes(data.lists, origins, data_dir)
    return data


def check_list_sizes(lists: dict[str, list[str]], origins: dict[str, Path], data_dir: Path) -> None:
    """Refuse a list whose "@name" expansion is too big or too deep, or that names itself or
    an unknown list. Sizes are counted (memoised per list), never expanded, so a bomb costs
    one pass over the file."""
    sizes: dict[str, int] = {}
    depths: dict[str, int] = {}

    def where(name: str) -> str:
        return str(origins.get(name, data_dir))

    def measure(name: str, path: tuple[str, ...]) -> tuple[int, int]:
        """(expanded size, nesting depth) of list `name`, reached from the lists in `path`."""
        chain = " -> ".join(f"@{n}" for n in (*path, name))
        if name in path:
            raise RuleError(f"{where(path[0])}: data list @{path[0]} includes itself ({chain})")
        if len(path) + depths.get(name, 0) > MAX_LIST_DEPTH:
            raise RuleError(f"{where(path[0])}: data list @{path[0]} nests other lists more than "
                            f"{MAX_LIST_DEPTH} deep ({chain} ...)")
        if name in sizes:
            return sizes[name], depths[name]
        size, depth = 0, 0
        for item in lists[name]:
            if item.startswith("@"):
                inner = item[1:]
                if inner not in lists:
                    raise RuleError(f"{where(name)}: data list @{name} names unknown list {item!r}")
                inner_size, inner_depth = measure(inner, (*path, name))
                size += inner_size
                depth = max(depth, inner_depth + 1)
            else:
                size += 1
            if size > MAX_LIST_ITEMS:
                via = f" (through {chain})" if path else ""
                raise RuleError(f"{where(name)}: data list @{name} expands to more than {MAX_LIST_ITEMS:,} items"
                                f"{via}; name fewer or smaller lists")
        sizes[name], depths[name] = size, depth
        return size, depth

    for name in lists:
        measure(name, ())


def _inflections(path: Path, table: Any) -> dict[str, list[str]]:
    """{lemma: forms} of every language in inflections.yaml, merged (a lemma shared by two
    languages gets the forms of both)."""
    if not isinstance(table, dict):
        raise RuleError(f"{path}: `inflections` maps each language to {{lemma: [forms]}}")
    merged: dict[str, set[str]] = {}
    for language, lemmas in table.items():
        if not isinstance(lemmas, dict):
            raise RuleError(f"{path}: inflections.{language}: a mapping of lemmas to lists of forms")
        for lemma, forms in lemmas.items():
            if not isinstance(forms, list) or not all(isinstance(f, str) for f in forms):
                raise RuleError(f"{path}: inflections.{language}.{lemma}: a list of forms")
            merged.setdefault(str(lemma).lower(), set()).update(f.lower() for f in forms)
    return {lemma: sorted(forms) for lemma, forms in merged.items()}


def load_rule_files(root: Path, data: RuleSetData, criteria: Collection[str],
                    skip: Collection[Path] = ()) -> tuple[list[CompiledRule], dict[str, str]]:
    """Every rule file under `root` (not data/ nor the files in `skip`), validated and compiled
    against `data`, site rules ordered after those they name; and rule id -> its file.
    `criteria`: the criterion names a rule may score (scoring.yaml's). Raises RuleError."""
    compiled: list[CompiledRule] = []
    files: dict[str, str] = {}
    skipped = set(skip)
    rule_files = sorted(
        p for p in root.rglob("*.yaml")
        if p not in skipped and "data" not in p.relative_to(root).parts[:-1]
    )
    for path in rule_files:
        content = read_yaml(path)
        items = content.get("rules") if isinstance(content, dict) else None
        if not isinstance(items, list):
            raise RuleError(f"{path}: a rule file holds `rules:`, a list of rules")
        for index, item in enumerate(items):
            rule_id = item.get("id", f"rule #{index + 1}") if isinstance(item, dict) else f"rule #{index + 1}"
            try:
                rule = Rule.model_validate(item)
            except ValidationError as exc:
                raise RuleError(f"{path}: {rule_id}: {describe(exc)}") from exc
            if rule.id in files:
                raise RuleError(f"{path}: {rule.id}: duplicate id (also in {files[rule.id]})")
            if rule.criterion not in criteria:
                raise RuleError(f"{path}: {rule.id}: criterion {rule.criterion!r} has no entry in scoring.yaml")
            try:
                compiled.append(compile_rule(rule, data))
            except CompileError as exc:
                raise RuleError(f"{path}: {rule.id}: {exc}") from exc
            files[rule.id] = str(path.relative_to(root))
    known = set(files)
    for cr in compiled:
        for ref in _fired_refs(cr.rule.match) | {r for u in cr.rule.unless for r in _fired_refs(u)}:
            if ref not in known:
                raise RuleError(f"{root / files[cr.rule.id]}: {cr.rule.id}: `fired` names unknown rule {ref}")
    if not compiled:
        raise RuleError(f"{root}: no rules found")
    attach_phrase_book(compiled)
    return _site_rules_in_order(compiled, root, files), files


def _site_rules_in_order(compiled: list[CompiledRule], root: Path, files: dict[str, str]) -> list[CompiledRule]:
    """Site rules after the site rules they name in `fired`, so each sees what it depends on."""
    site = {cr.rule.id: cr for cr in compiled if cr.rule.scope == "site"}
    ordered: list[CompiledRule] = [cr for cr in compiled if cr.rule.scope != "site"]
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(rule_id: str) -> None:
        if rule_id in done:
            return
        if rule_id in visiting:
            raise RuleError(f"{root / files[rule_id]}: {rule_id}: `fired` references form a cycle")
        visiting.add(rule_id)
        cr = site[rule_id]
        for ref in sorted(_fired_refs(cr.rule.match) | {r for u in cr.rule.unless for r in _fired_refs(u)}):
            if ref in site:
                visit(ref)
        visiting.discard(rule_id)
        done.add(rule_id)
        ordered.append(cr)

    for rule_id in site:
        visit(rule_id)
    return ordered


def _fired_refs(m: Any) -> set[str]:
    refs: set[str] = set(m.fired or [])
    for part in (m.all or []) + (m.any or []) + ([m.not_] if m.not_ is not None else []):
        refs |= _fired_refs(part)
    return refs
