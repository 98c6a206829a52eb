"""Relation + offset vectors: the relation vector beside the same encoder's word offset.

A model with ``offset_weight`` λ > 0 gives a pair (head, tail) the vector

    [unit(r) ; sqrt(λ) * unit(w_tail - w_head)] / sqrt(1 + λ)

where ``r`` is the pooled prompt (the relation vector) and ``w`` a word's vector: the word
alone with the tokenizer's special tokens, the mean of its own tokens' last hidden states
(the ``diff`` baseline's word vector, same encoder, precision and runtime). The vector is
unit-norm and twice the encoder's width, so the cosine of two pairs is
``(cos_relation + λ cos_offset) / (1 + λ)``. A pair whose offset is zero (one word twice)
has a zero offset part, never NaN, and stays unit-norm: its vector is ``[unit(r) ; 0]`` (every
row of a collection is a unit vector, as search and the index expect; its cosine with another
pair is then ``cos_relation / sqrt(1 + λ)``). λ = 0 is the plain relation vector at the
encoder's width, bit for bit.

``normalize=False`` gives ``[r ; sqrt(λ) * unit(w_tail - w_head)]``: the raw relation vector
(the official package's) beside the weighted unit offset.

This module holds the arithmetic and the bookkeeping of words; the encoder runs in the one
embed loop (:func:`relbert.runtime.pair_vectors.word_vectors`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import numpy as np
from .errors import OptionError

Pair = Tuple[str, str]

#: The grid ``relbert-eval choose-offset`` and ``relbert-train`` score (λ = 0: relation only).
OFFSET_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0)


#: Largest offset weight λ: the combined vector divides by sqrt(1 + λ) in float32; past this the
#: relation half vanishes below float32 rounding anyway, and near 1e308 the arithmetic overflows.
MAX_OFFSET_WEIGHT = 1e6


def check_offset_weight(value) -> float:
    """``value`` as a float 0 <= λ <= :data:`MAX_OFFSET_WEIGHT`, or a one-line OptionError."""
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"offset_weight must be a number >= 0, got {value!r}") from None
    if not np.isfinite(weight) or weight < 0 or weight > MAX_OFFSET_WEIGHT:
        raise OptionError(f"offset_weight must be a number from 0 to {MAX_OFFSET_WEIGHT:g}, got {value!r}")
    return weight


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm; zero rows stay zero (float32)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def combine(relation: np.ndarray, offset: np.ndarray, weight: float, normalize: bool = True) -> np.ndarray:
    """The relation + offset vectors (see the module doc) of rows ``relation`` ``(N, h)`` and
    their word offsets ``offset`` ``(N, h)`` (``w_tail - w_head``); ``weight`` = 0 returns
    ``relation`` itself."""
    if weight == 0:
        return relation
    scale = np.float32(np.sqrt(weight))
    if not normalize:
        return np.concatenate([relation, scale * unit_rows(offset)], axis=1).astype(np.float32, copy=False)
    offset = unit_rows(offset)
    both = np.concatenate([unit_rows(relation), scale * offset], axis=1)
    # 1 / sqrt(1 + λ) where the offset part is there; a zero offset (one word twice) keeps the unit relation part
    shrink = np.where(offset.any(axis=1, keepdims=True), np.float32(1 / np.sqrt(1.0 + weight)), np.float32(1))
    return (both * shrink).astype(np.float32, copy=False)


def combined_cosines(cos_relation, cos_offset, weight: float):
    """``(cos_relation + λ cos_offset) / (1 + λ)``: what :func:`combine`'s vectors' dot products are."""
    return (cos_relation + weight * cos_offset) / (1.0 + weight)


@dataclass
class WordSpans:
    """The words of a set of pairs, each distinct word once, and where each pair's words are.

    ``ids``/``offsets``/``pooled`` are :meth:`relbert.PairTokenizer.encode_words`' output for the
    distinct words; ``head[i]``/``tail[i]`` are pair i's rows among them.
    """

    ids: np.ndarray
    offsets: np.ndarray
    pooled: np.ndarray
    head: np.ndarray
    tail: np.ndarray

    @property
    def count(self) -> int:
        return len(self.offsets) - 1

    def means(self, summed: np.ndarray) -> np.ndarray:
        """Per word, ``summed`` (its pooled tokens' summed vectors) divided by how many tokens it pools."""
        counts = np.add.reduceat(self.pooled.astype(np.float32), self.offsets[:-1]) if self.count else \
            np.zeros(0, np.float32)
        counts[np.diff(self.offsets) == 0] = 0  # reduceat repeats an element for empty spans
        return summed / np.maximum(counts, 1)[:, None]

    @classmethod
    def of_pairs(cls, pairs: Sequence[Pair], tokenizer) -> "WordSpans":
        """Each distinct word of ``pairs`` tokenized once."""
        index: Dict[str, int] = {}
        head = np.fromiter((index.setdefault(h, len(index)) for h, _ in pairs), np.int64, len(pairs))
        tail = np.fromiter((index.setdefault(t, len(index)) for _, t in pairs), np.int64, len(pairs))
        ids, offsets, pooled = tokenizer.encode_words(list(index))
        return cls(ids, offsets, pooled, head, tail)

    @classmethod
    def of_token_spans(cls, ids: np.ndarray, offsets: np.ndarray, pooled: np.ndarray) -> "WordSpans":
        """From two spans a pair (head, tail, head, tail, ...) of :meth:`encode_words` output, as the
        embed run's plan stores them; equal spans become one word (encoded once)."""
        index: Dict[bytes, int] = {}
        keep = []
        rows = np.empty(len(offsets) - 1, np.int64)
        for k in range(len(rows)):
            key = ids[offsets[k]:offsets[k + 1]].tobytes() + b"|" + pooled[offsets[k]:offsets[k + 1]].tobytes()
            j = index.get(key)
            if j is None:
                j = index[key] = len(keep)
                keep.append(k)
            rows[k] = j
        new_offsets, take = gather_spans(np.asarray(offsets, np.int64), np.asarray(keep, np.int64))
        return cls(ids[take], new_offsets, pooled[take], rows[0::2], rows[1::2])


def gather_spans(bounds: np.ndarray, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Spans ``rows`` of a packed array (span k is ``bounds[k]:bounds[k + 1]``), packed together:
    ``(offsets, take)``, their offsets in the new array and the indices that take them from the old."""
    lengths = bounds[rows + 1] - bounds[rows]
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # element j of span k: from bounds[rows[k]] + j to offsets[k] + j
    take = np.repeat(bounds[rows] - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
    return offsets, take
