"""What a sentence-transformers user reaches for, over relation vectors: :func:`cos_sim` (the
matrix of cosines) and :func:`semantic_search` (the ``top_k`` corpus rows most similar to each
query, as ``[{"corpus_id", "score"}, ...]`` per query). Both run
:func:`relbert.runtime.ops.topk_cosine`, the scan ``relbert-search`` runs, so the neighbours
are the same. Exported at the top level: ``relbert.cos_sim``, ``relbert.semantic_search``."""
from __future__ import annotations

from typing import Dict, List, Union

import numpy as np
import torch

from ..errors import OptionError

Array = Union[np.ndarray, torch.Tensor]


def _matrix(x: Array, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() != 2:
        raise OptionError(f"{name}: expected vectors (N, D) or one vector (D,), got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise OptionError(f"{name}: holds NaN or infinity")
    return t


def cos_sim(a: Array, b: Array) -> torch.Tensor:
    """``(len(a), len(b))`` cosine similarities (zero vectors score 0), as
    ``sentence_transformers.util.cos_sim``."""
    a, b = _matrix(a, "a"), _matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise OptionError(f"cos_sim: vectors of width {a.shape[1]} and {b.shape[1]} do not compare")
    from ..runtime.ops import normalize_rows

    return normalize_rows(a) @ normalize_rows(b).T


def semantic_search(query_embeddings: Array, corpus_embeddings: Array, top_k: int = 10
                    ) -> List[List[Dict[str, Union[int, float]]]]:
    """For each query, the ``top_k`` most cosine-similar corpus rows, best first:
    ``[[{"corpus_id": int, "score": float}, ...], ...]`` (sentence-transformers' shape). The
    corpus is scanned in tiles (a memory-mapped ``.npy`` from ``relbert-embed`` works)."""
    from ..runtime.ops import topk_cosine

    if top_k < 1:
        raise OptionError(f"top_k must be positive, got {top_k}")
    queries, corpus = _matrix(query_embeddings, "query_embeddings"), _matrix(corpus_embeddings, "corpus_embeddings")
    if queries.shape[1] != corpus.shape[1]:
        raise OptionError(f"semantic_search: queries of width {queries.shape[1]}, corpus of width {corpus.shape[1]}")
    scores, index = topk_cosine(queries, corpus, top_k, kernel="torch")
    return [[{"corpus_id": int(i), "score": float(s)} for s, i in zip(row_s, row_i)]
            for row_s, row_i in zip(scores.tolist(), index.tolist())]
