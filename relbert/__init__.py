"""RelBERT: relation embeddings from language models.

Public API: :class:`RelBERT` (load, embed, save), :class:`PairTokenizer` (fused
template tokenization), :func:`cos_sim` and :func:`semantic_search` (sentence-transformers' util
over relation vectors). Heavy modules (torch, transformers) are imported on first use.
"""
from __future__ import annotations

from .version import __version__
__all__ = ["RelBERT", "PairTokenizer", "TEMPLATES", "cos_sim", "semantic_search", "__version__"]

from .templates import TEMPLATES


def __getattr__(name):
    if name == "RelBERT":
        from .model import RelBERT

        return RelBERT
    if name == "PairTokenizer":
        from .tokenization import PairTokenizer

        return PairTokenizer
    if name in ("cos_sim", "semantic_search"):  # sentence-transformers' util, over relation vectors
        from .search import similarity

        return getattr(similarity, name)
    raise AttributeError(f"module 'relbert' has no attribute {name!r}")
