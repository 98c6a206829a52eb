"""RelBERT: relation embeddings from language models.

Public API: :class:`RelBERT` (load, embed, save) and :class:`PairTokenizer` (fused
template tokenization). Heavy modules (torch, transformers) are imported on first use.
"""
from __future__ import annotations

__version__ = "0.2.0"
__all__ = ["RelBERT", "PairTokenizer", "TEMPLATES", "__version__"]

from .templates import TEMPLATES


def __getattr__(name):
    if name == "RelBERT":
        from .model import RelBERT

        return RelBERT
    if name == "PairTokenizer":
        from .tokenization import PairTokenizer

        return PairTokenizer
    raise AttributeError(f"module 'relbert' has no attribute {name!r}")
