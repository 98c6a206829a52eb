"""Reference rows for every report.

- ``vanilla``: the untrained encoder with the template (the paper's "vanilla LM" row) — that
  is just :class:`relbert.RelBERT` on a plain encoder, so it needs no class here.
- ``diff``: word-vector difference. Each word is encoded alone and mean-pooled over its
  tokens (special tokens excluded); a pair's vector is tail minus head.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

Pair = Tuple[str, str]


class WordDiffBaseline:
    """Embedder whose pair vector is ``vec(tail) - vec(head)`` from the model's encoder."""

    def __init__(self, model):
        self.model = model  # a RelBERT: its encoder, tokenizer and device are reused

    def describe(self) -> Dict[str, str]:
        return {"model": self.model.display_name, "baseline": "diff", "template": None, "aggregation": "mean of word tokens"}

    def word_vectors(self, words: List[str], batch_size: int = 128) -> np.ndarray:
        """Mean of each word's token vectors (special tokens excluded), through the model's one
        embed loop (:func:`relbert.runtime.pair_vectors.word_vectors`)."""
        from ..offsets import WordSpans

        ids, offsets, pooled = self.model.tokenizer.encode_words(words)
        spans = WordSpans(ids, offsets, pooled, np.zeros(0, np.int64), np.zeros(0, np.int64))
        from ..runtime.pair_vectors import word_vectors

        return word_vectors(self.model, spans, batch_size=batch_size)

    def embed(self, pairs: Sequence[Pair], *, batch_size: int = 128, normalize: bool = True, show_progress: bool = False) -> np.ndarray:
        from ..offsets import WordSpans, unit_rows

        spans = WordSpans.of_pairs(list(pairs), self.model.tokenizer)  # each distinct word once
        from ..runtime.pair_vectors import word_vectors

        vectors = word_vectors(self.model, spans, batch_size=batch_size)
        diff = vectors[spans.tail] - vectors[spans.head]
        return unit_rows(diff) if normalize else diff
