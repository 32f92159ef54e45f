"""The fitted judgement: parameters loaded from rules/model.yaml, prediction in pure Python.

A multinomial logistic regression over the named site features (judge/features.py) plus one
statistical text feature per class (a hashed-words logistic regression, stacked: fitted only
on the training sites, its log-odds become `text:<class>`). Then a decision with abstention:
`suspicious` when the model is unsure or evidence conflicts, preferred to a critical error.

No scikit-learn here: the core install predicts from the stored coefficients. A rule the fit
never saw (added after the last refit, or one on site facts such as domain age or TLS, which an
offline corpus cannot show) is not silently weightless: it gets a documented prior weight from
its severity and direction (`prior:` in model.yaml, see `prior_weights`). Any other unknown
feature has weight 0.
"""

from __future__ import annotations

import base64
import heapq
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from pharmcheck.errors import RuleError
from pharmcheck.judge.features import hashed, named_features, text_tokens, text_vector
from pharmcheck.models import Contribution, Finding, Severity, SiteFacts, Verdict
from pharmcheck.score import Score

MODEL_FORMAT = 1
MODEL_FILE = "model.yaml"
CLASSES = ("legitimate", "rogue", "not_pharmacy")
CONTRIBUTIONS_SHOWN = 8
TEXT_WORDS_SHOWN = 6
# Prior weight per unit of rule strength for a rule absent from the fit, by severity. A red flag
# at full strength (a critical rule of weight 40: strength 2) moves the logit by 2 toward rogue.
DEFAULT_PRIOR = {"info": 0.25, "low": 0.25, "medium": 0.5, "high": 0.75, "critical": 1.0}
PRIOR_DETAIL = "prior, not in the fit corpus: "


def softmax(logits: dict[str, float]) -> dict[str, float]:
    """Class probabilities from class logits (shifted by the largest: no overflow)."""
    top = max(logits.values())
    exp = {c: math.exp(v - top) for c, v in logits.items()}
    total = sum(exp.values())
    return {c: v / total for c, v in exp.items()}


def encode_floats(values: Sequence[float]) -> str:
    """float32 little-endian, base64: a dense weight vector kept compact in YAML."""
    arr = array("f", values)
    if arr.itemsize != 4:  # pragma: no cover - every CPython platform has 4-byte floats
        raise RuntimeError("float32 arrays needed")
    return base64.b64encode(arr.tobytes()).decode("ascii")


def decode_floats(text: str) -> array[float]:
    arr: array[float] = array("f")
    arr.frombytes(base64.b64decode(text))
    return arr


@dataclass
class TextModel:
    """Hashed-words logistic regression: one weight vector per class over `dim` buckets."""

    dim: int
    weights: dict[str, array[float]]
    intercept: dict[str, float]

    def logits(self, vector: dict[int, float]) -> dict[str, float]:
        return {c: self.intercept[c] + sum(w[i] * v for i, v in vector.items()) for c, w in self.weights.items()}

    def features(self, vector: dict[int, float]) -> dict[str, float]:
        """`text:<class>`: each class's logit minus their mean (what the main model reads)."""
        logits = self.logits(vector)
        mean = sum(logits.values()) / len(logits)
        return {f"text:{c}": round(v - mean, 6) for c, v in logits.items()}

    @cached_property
    def _weights64(self) -> dict[str, Any]:
        """The class weights as float64 numpy arrays (each value exactly its float32 one)."""
        return {c: np.frombuffer(w.tobytes(), dtype=np.float32).astype(np.float64) for c, w in self.weights.items()}

    def top_words(self, tokens: set[str], toward: str, n: int = TEXT_WORDS_SHOWN) -> list[str]:
        """The site's words that pushed the text model most toward class `toward`."""
        words = list(tokens)
        buckets = np.fromiter((hashed(token, self.dim) for token in words), dtype=np.intp, count=len(words))
        weights = self._weights64
        # Per word, in numpy but in the same float64 steps as one word at a time: its weight
        # toward the class minus the mean of its weights (summed in class order).
        rest = sum(weights[c][buckets] for c in weights) / len(weights)
        lead = weights[toward][buckets] - rest
        scored = heapq.nsmallest(n, ((-float(lead[i]), words[i]) for i in np.flatnonzero(lead > 0)))
        return [t for _, t in scored if not t.endswith("~")][:n] or [t.rstrip("~") + "…" for _, t in scored]


@dataclass
class Abstention:
    """When the model's best class is not committed to (the verdict is then `suspicious`)."""

    min_probability: float = 0.5  # the best class needs at least this probability
    legitimate_max_rogue: float = 0.2  # `legitimate` only if P(rogue) stays below this
    rogue_max_legitimate: float = 0.2  # `rogue` only if P(legitimate) stays below this


@dataclass
class Judgement:
    verdict: Verdict
    probabilities: dict[str, float]
    confidence: float
    contributions: list[Contribution]
    reason: str


@dataclass
class JudgeModel:
    rules_version: str
    coef: dict[str, dict[str, float]]  # class -> feature -> weight
    intercept: dict[str, float]
    text: TextModel | None = None
    abstention: Abstention = field(default_factory=Abstention)
    fitted_on: dict[str, Any] = field(default_factory=dict)  # counts per label, seed, settings
    prior: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PRIOR))  # severity -> weight

    @property
    def classes(self) -> list[str]:
        return list(self.coef)

    def knows(self, feature: str) -> bool:
        """Whether the fit gave `feature` a weight (it was seen on enough training sites)."""
        return any(feature in w for w in self.coef.values())

    def prior_weights(self, findings: Sequence[Finding]) -> dict[str, dict[str, float]]:
        """class -> feature -> weight for the fired rules the fit never saw.

        Direction from the rule itself: a seller rule of positive weight says "sells medicines"
        (against not_pharmacy), of negative weight "sells none" (toward not_pharmacy); any other
        rule of negative weight is a rogue mark (toward rogue), of positive weight a mark of a
        legitimate pharmacy. Size from its severity (`prior`), times the feature's strength.
        """
        out: dict[str, dict[str, float]] = {c: {} for c in self.coef}
        for f in findings:
            name = f"rule:{f.rule_id}"
            if self.knows(name) or not f.weight:
                continue
            size = self.prior.get(f.severity.value, 0.0)
            if f.criterion == "seller":
                toward, size = "not_pharmacy", size if f.weight < 0 else -size
            else:
                toward = "rogue" if f.weight < 0 else "legitimate"
            out[toward][name] = size
        return out

    def _weight(self, cls: str, feature: str, extra: dict[str, dict[str, float]] | None) -> float:
        if extra and feature in extra[cls]:
            return extra[cls][feature]
        return self.coef[cls].get(feature, 0.0)

    # --- persistence ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "rules_version": self.rules_version,
            "fitted_on": self.fitted_on,
            "abstention": vars(self.abstention),
            "classes": self.classes,
            "intercept": {c: round(v, 6) for c, v in self.intercept.items()},
            "coef": {c: {k: round(v, 6) for k, v in sorted(w.items()) if v} for c, w in self.coef.items()},
            "prior": dict(self.prior),
        }
        if self.text is not None:
            doc["text"] = {
                "dim": self.text.dim,
                "intercept": {c: round(v, 6) for c, v in self.text.intercept.items()},
                "weights": {c: encode_floats(w) for c, w in self.text.weights.items()},
            }
        return doc

    def save(self, path: Path) -> None:
        header = (
            "# Fitted judgement (pharmcheck rules fit): do not edit by hand, refit instead.\n"
            "# coef: per verdict class, the weight of each named feature (rule:<ID>, criterion:, host:,\n"
            "# page:, text:<class>); text.weights: the hashed-words model, float32 base64 per class.\n"
        )
        import yaml  # here: loading the rules (and this model) from the user cache needs no YAML library

        body = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=120)
        path.write_text(header + body, encoding="utf-8")

    @classmethod
    def from_dict(cls, doc: Any, where: str = "model") -> JudgeModel:
        try:
            if doc.get("format") != MODEL_FORMAT:
                raise RuleError(f"{where}: unknown model format {doc.get('format')!r} (expected {MODEL_FORMAT})")
            classes = list(doc["classes"])
            if sorted(classes) != sorted(CLASSES):
                raise RuleError(f"{where}: classes must be {', '.join(CLASSES)}")
            coef = {c: {str(k): float(v) for k, v in (doc["coef"].get(c) or {}).items()} for c in classes}
            intercept = {c: float(doc["intercept"][c]) for c in classes}
            text = None
            if doc.get("text"):
                t = doc["text"]
                weights = {c: decode_floats(t["weights"][c]) for c in classes}
                dim = int(t["dim"])
                if any(len(w) != dim for w in weights.values()):
                    raise RuleError(f"{where}: text weights do not have {dim} entries")
                text = TextModel(dim=dim, weights=weights, intercept={c: float(t["intercept"][c]) for c in classes})
            abst = Abstention(**{k: float(v) for k, v in (doc.get("abstention") or {}).items()})
            prior = {**DEFAULT_PRIOR, **{str(k): float(v) for k, v in (doc.get("prior") or {}).items()}}
            unknown = set(prior) - {s.value for s in Severity}
            if unknown:
                raise RuleError(f"{where}: prior: unknown severities {', '.join(sorted(unknown))}")
            return cls(rules_version=str(doc.get("rules_version", "")), coef=coef, intercept=intercept, text=text,
                       abstention=abst, fitted_on=dict(doc.get("fitted_on") or {}), prior=prior)
        except RuleError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise RuleError(f"{where}: invalid model: {exc!r}") from exc

    @classmethod
    def load(cls, path: Path) -> JudgeModel:
        # Parsed as the rule files are: once, then read back from the user cache (the shipped
        # model is ~0.5 MB of YAML, ~5 ms to parse in every process that loads the rules).
        from pharmcheck.rules.load import read_yaml

        return cls.from_dict(read_yaml(path), str(path))

    # --- prediction ------------------------------------------------------------------

    def features(
        self,
        site: SiteFacts,
        findings: Sequence[Finding],
        rules_score: Score,
        lists: dict[str, list[str]],
        drug_names: Sequence[str] = (),
    ) -> tuple[dict[str, float], set[str]]:
        feats = named_features(site, findings, rules_score, lists, drug_names)
        tokens = text_tokens(site) if self.text is not None else set()
        if self.text is not None:
            feats.update(self.text.features(text_vector(tokens, self.text.dim)))
        return feats, tokens

    def probabilities(self, feats: dict[str, float], extra: dict[str, dict[str, float]] | None = None) -> dict[str, float]:
        """Class probabilities; `extra` adds weights the fit does not have (priors)."""
        return softmax({c: self.intercept[c] + sum(self._weight(c, k, extra) * v for k, v in feats.items())
                        for c in self.coef})

    def contributions(
        self, feats: dict[str, float], toward: str, extra: dict[str, dict[str, float]] | None = None
    ) -> list[tuple[str, float]]:
        """Each feature's push toward class `toward` relative to the average class, largest first."""
        n = len(self.coef)
        out = []
        for k, v in feats.items():
            own = self._weight(toward, k, extra)
            mean = sum(self._weight(c, k, extra) for c in self.coef) / n
            if own != mean:
                out.append((k, (own - mean) * v))
        out.sort(key=lambda kv: (-abs(kv[1]), kv[0]))
        return out

    def judge(
        self,
        site: SiteFacts,
        findings: Sequence[Finding],
        rules_score: Score,
        lists: dict[str, list[str]],
        drug_names: Sequence[str] = (),
    ) -> Judgement:
        feats, tokens = self.features(site, findings, rules_score, lists, drug_names)
        return self.decide(feats, tokens, findings)

    def verdict_from(self, probs: dict[str, float], findings: Sequence[Finding] = ()) -> tuple[Verdict, str]:
        """The verdict for these class probabilities, and why it abstains ("" when it does not)."""
        best = max(probs, key=lambda c: (probs[c], c))
        a = self.abstention
        if probs[best] < a.min_probability:
            return Verdict.suspicious, f"the model is unsure: {best} at {probs[best]:.0%}"
        if best == "legitimate" and probs["rogue"] >= a.legitimate_max_rogue:
            return Verdict.suspicious, f"evidence conflicts: legitimate at {probs[best]:.0%}, rogue at {probs['rogue']:.0%}"
        if best == "rogue" and probs["legitimate"] >= a.rogue_max_legitimate:
            return Verdict.suspicious, f"evidence conflicts: rogue at {probs[best]:.0%}, legitimate at {probs['legitimate']:.0%}"
        critical = [f for f in findings if f.weight < 0 and f.severity == Severity.critical]
        if best == "legitimate" and critical:
            # A veto: a critical rogue mark (a copied seal, prescription drugs without one...)
            # never stands beside a `legitimate` verdict, whatever the other evidence says.
            return Verdict.suspicious, f"a critical red flag vetoes legitimate: {critical[0].message}"
        return Verdict(best), ""

    def decide(self, feats: dict[str, float], tokens: set[str], findings: Sequence[Finding]) -> Judgement:
        extra = self.prior_weights(findings)
        probs = self.probabilities(feats, extra)
        best = max(probs, key=lambda c: (probs[c], c))
        verdict, reason = self.verdict_from(probs, findings)
        priors = {k for w in extra.values() for k in w}
        contribs = [
            self._contribution(name, value, best, tokens, findings, name in priors)
            for name, value in self.contributions(feats, best, extra)[:CONTRIBUTIONS_SHOWN]
        ]
        return Judgement(verdict, {c: round(p, 4) for c, p in probs.items()}, round(probs[best], 4), contribs, reason)

    def _contribution(
        self, name: str, value: float, toward: str, tokens: set[str], findings: Sequence[Finding], prior: bool = False
    ) -> Contribution:
        kind, _, key = name.partition(":")
        detail = ""
        rule_id = None
        if kind == "rule":
            rule_id = key
            detail = (PRIOR_DETAIL if prior else "") + next((f.message for f in findings if f.rule_id == key), "")
        elif kind == "red_flags":
            flags = [f.message for f in findings if f.weight < 0 and f.severity.value == key]
            detail = f"{key} red flags: " + "; ".join(dict.fromkeys(flags[:3]))
        elif kind == "criterion":
            own = sorted((f for f in findings if f.criterion == key), key=lambda f: -abs(f.weight))
            detail = f"{key}: " + "; ".join(dict.fromkeys(f.message for f in own[:2]))
        elif kind == "text" and self.text is not None:
            words = self.text.top_words(tokens, toward if value > 0 else key)
            detail = f"words toward {toward if value > 0 else key}: " + ", ".join(words)
        return Contribution(feature=name, rule=rule_id, toward=toward, weight=round(value, 3), detail=detail)


def load_model(rules_dir: Path) -> JudgeModel | None:
    """The model next to the rules, or None when the folder has none (hand-set scoring then)."""
    path = rules_dir / MODEL_FILE
    return JudgeModel.load(path) if path.is_file() else None
