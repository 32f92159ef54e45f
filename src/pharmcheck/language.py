"""The language a page is written in, from a bounded sample of its visible text (py3langid).

py3langid ships its model inside the package (`py3langid/data/model.npz.xz`): nothing is
downloaded, ever. The model is loaded once per process, on the first page (~10 ms from the
user cache). A page's text may be 400,000 characters; only a sample of at most `SAMPLE_CHARS`
is classified (three slices spread over the text, so a long English footer or a cookie banner
does not decide), which keeps detection well under 1 ms a page (benchmarks/analysis.py).
The classifier walks the sample byte by byte in Python, so its cost is the sample's length:
1,500 characters name the same language as 3,000 (or 1,000) did on every page of the corpora
and examples, at half the cost.
"""

from __future__ import annotations

import lzma
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

# The languages a page may be given: those of the EU and its neighbours, and the other
# languages rogue shops are commonly written in. A closed set classifies short texts far
# better than the model's 97 languages (which mistake a list of drug names for Tagalog).
LANGUAGES = (
    "en", "de", "fr", "es", "it", "nl", "pl", "pt", "sv", "da", "no", "fi", "cs", "sk", "hu", "ro",
    "bg", "el", "hr", "sl", "lt", "lv", "et", "ga", "mt", "lb", "ru", "uk", "tr", "ar", "zh", "ja",
)
SAMPLE_CHARS = 1500
# Texts at least this long have enough letters to classify (a count below it, not above).
LETTERS_COUNTED_BELOW = 2000
MIN_LETTERS = 40  # fewer letters than this (a nav bar, a title): not enough to tell
MIN_PROBABILITY = 0.80

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_DECLARED = re.compile(r"^[a-zA-Z]{2,3}(?=$|[-_])")
_lock = threading.Lock()
_identifier: Any = None


def _model() -> Any:
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                ident = _cached_identifier()
                if ident is None:
                    from py3langid.langid import MODEL_FILE, LanguageIdentifier

                    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                    ident.set_languages(list(LANGUAGES))
                _identifier = ident
    return _identifier


_MODEL_ARRAYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
_MAPPED = ("ptc", "nextmove")  # the two big tables: mapped, so a process reads only what it visits


def _cached_identifier() -> Any:
    """py3langid's identifier, restricted to LANGUAGES, from its model unpacked in the user
    cache. The shipped model is LZMA-compressed: unpacking it was most of a one-page check
    (~0.4 s of ~0.5 s) in every process. The entry holds the arrays as plain .npy files,
    the per-language table already cut to LANGUAGES (what `set_languages` would copy out in
    every process); the two big tables (~50 MB) are memory-mapped, so loading costs ~10 ms
    instead of ~70 ms for reading them whole. The identifier answers exactly as one built
    from the shipped file and restricted by `set_languages` (tests/test_cache.py).
    None if the cache cannot serve."""
    import numpy as np
    import py3langid
    from py3langid import modelio
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    from pharmcheck.cache import cached_dir, file_stamp, key_of

    packed = MODEL_DIR / MODEL_FILE
    try:
        # The package's own __version__: importlib.metadata.version() searched every folder of
        # sys.path for the distribution (~4 ms a check).
        key = key_of(str(getattr(py3langid, "__version__", "")), file_stamp(packed), "restricted:" + ",".join(LANGUAGES))
    except OSError:
        return None

    def build(folder: Path) -> None:
        with tempfile.TemporaryFile(suffix=".npz") as tmp:
            with lzma.open(packed) as src:
                shutil.copyfileobj(src, tmp, length=1 << 20)
            tmp.seek(0)
            with np.load(tmp, allow_pickle=False) as data:
                arrays = {name: data[name] for name in _MODEL_ARRAYS}
        # What set_languages(LANGUAGES) keeps: the columns (and classes) of those languages, in model order.
        wanted = set(LANGUAGES)
        kept = [i for i, code in enumerate(arrays["classes"].tolist()) if code in wanted]
        arrays["ptc"] = np.ascontiguousarray(arrays["ptc"][:, kept])
        arrays["pc"] = arrays["pc"][kept]
        arrays["classes"] = arrays["classes"][kept]
        for name in _MODEL_ARRAYS:
            np.save(folder / f"{name}.npy", arrays[name], allow_pickle=False)

    def load(folder: Path) -> Any:
        arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False, mmap_mode="r" if name in _MAPPED else None)
                  for name in _MODEL_ARRAYS}
        nextmove = arrays["nextmove"]
        # The tokenizer's transition table as py3langid's own loader gives it (a flat sequence
        # of ints), read in place from the mapped file rather than copied into an array.
        transitions = memoryview(nextmove).cast("B").cast(modelio._TYPECODE[nextmove.dtype.itemsize])
        return LanguageIdentifier(arrays["ptc"], arrays["pc"], arrays["classes"].tolist(), transitions,
                                  arrays["out_feat"].tolist(), norm_probs=True,
                                  tk_row=modelio._to_array(arrays["nextmove_row"]))

    return cached_dir(f"langid-{key}", build, load)


def preload_language_model() -> None:
    """Load the model now rather than on the first page (e.g. before timing a page)."""
    _model()


def sample(text: str, limit: int = SAMPLE_CHARS) -> str:
    """At most `limit` characters of `text`: all of it if short, else three slices taken at
    a fifth, half and four fifths of the way through (cut at spaces)."""
    if len(text) <= limit:
        return text
    part = limit // 3
    out = []
    for at in (len(text) // 5, len(text) // 2, len(text) * 4 // 5):
        start = max(0, min(at - part // 2, len(text) - part))
        space = text.find(" ", start, start + 40)
        start = space + 1 if space >= 0 else start
        out.append(text[start : start + part])
    return "\n".join(out)


def declared_language(value: str | None) -> str:
    """The primary subtag of an HTML `lang` attribute ("de-AT" -> "de"), or ""."""
    m = _DECLARED.match((value or "").strip())
    code = m.group(0).lower() if m else ""
    return "no" if code in ("nb", "nn") else code


def detect_language(text: str, declared: str = "") -> str:
    """ISO 639-1 code of the language of `text`, or "" when it cannot be told. The classifier
    decides when the text is long enough and the answer clear; otherwise the page's declared
    `lang` (if it is one of LANGUAGES) is taken, as the page's own claim."""
    letters = len(_LETTER.findall(text)) if len(text) < LETTERS_COUNTED_BELOW else MIN_LETTERS
    if letters >= MIN_LETTERS:
        code, probability = _model().classify(sample(text))
        if probability >= MIN_PROBABILITY:
            return str(code)
    declared = declared_language(declared)
    return declared if declared in LANGUAGES else ""
