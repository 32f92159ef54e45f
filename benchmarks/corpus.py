"""Turn a labelled corpus folder (`<host>/pages/<path>.html`, see shared/corpus/README.md)
into one WARC per site, so the checker can replay it exactly as it replays a real capture.

The reader lives in the package (pharmcheck.judge.corpus: `rules fit` needs it too)."""

from __future__ import annotations

from pathlib import Path

from pharmcheck.judge.corpus import CorpusSite, load_corpus, site_to_warc, url_paths


def _shared_corpus() -> Path:
    """`shared/corpus` next to the checkout, or next to one of its parents (worktrees nest)."""
    repo = Path(__file__).resolve().parent.parent
    for parent in repo.parents:
        if (parent / "shared" / "corpus").is_dir():
            return parent / "shared" / "corpus"
    return repo.parent / "shared" / "corpus"


SHARED_CORPUS = _shared_corpus()
DEFAULT_CORPUS = SHARED_CORPUS / "dev"
CV_CORPORA = [SHARED_CORPUS / "dev", SHARED_CORPUS / "train"]

__all__ = ["CV_CORPORA", "DEFAULT_CORPUS", "SHARED_CORPUS", "CorpusSite", "load_corpus", "site_to_warc", "url_paths"]
