"""The relation mapping problem (Turney 2008), scored as the official package does, searched exactly.

Given source terms ``s_1..s_n`` and the shuffled target terms, find the bijection ``P`` that
maximises

    score(P) = mean_i max_{j != i} cos(r(s_i, s_j), r(P(s_i), P(s_j)))

where ``r`` is the relation vector of an ordered pair. Every permutation of ``target_random``
is scored (all 612,240 of the shipped set), vectorised: the cosines of every source pair with
every target pair are computed once (an ``(n, n, n, n)`` table), and a block of permutations
gathers its ``n x n`` entries, masks the diagonal, takes the row maxima and their mean. Ties go
to the first permutation in ``itertools`` order of ``target_random``, never to the gold order.
"""
from __future__ import annotations

from functools import lru_cache
from itertools import permutations
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..data.mapping import MappingProblem

Pair = Tuple[str, str]
_BLOCK = 1 << 15  # permutations per block: 32k x n x n float32 stays under 15 MB at n = 10


@lru_cache(maxsize=None)
def all_permutations(n: int) -> np.ndarray:
    """``(n!, n)`` int64: every permutation of ``range(n)`` in ``itertools`` order."""
    return np.array(list(permutations(range(n))), dtype=np.int64).reshape(-1, n)


def ordered_pairs(terms: Sequence[str]) -> List[Pair]:
    return [(a, b) for a in terms for b in terms if a != b]


def cosine_table(source_vectors: np.ndarray, target_vectors: np.ndarray, n: int) -> np.ndarray:
    """``C[i, j, a, b] = cos(r(s_i, s_j), r(t_a, t_b))`` from the ``n (n-1)`` unit vectors of each
    side's ordered pairs (in :func:`ordered_pairs` order); diagonal entries are ``-inf``."""
    table = np.full((n, n, n, n), -np.inf, dtype=np.float64)
    off = ~np.eye(n, dtype=bool)
    cos = source_vectors.astype(np.float64) @ target_vectors.astype(np.float64).T  # (n(n-1), n(n-1))
    inner = np.full((n * n, n * n), -np.inf)
    flat = off.ravel()
    inner[np.ix_(flat, flat)] = cos
    table[...] = inner.reshape(n, n, n, n)
    return table


def best_permutation(table: np.ndarray) -> Tuple[np.ndarray, float]:
    """The permutation ``P`` (``P[i]`` = index into the target terms) maximising the score, and its score."""
    n = table.shape[0]
    perms = all_permutations(n)
    rows = np.arange(n)
    best_score, best_index = -np.inf, 0
    for start in range(0, len(perms), _BLOCK):
        block = perms[start : start + _BLOCK]  # (b, n)
        # entries C[i, j, P(i), P(j)] for every i, j: (b, n, n); the diagonal is -inf
        entries = table[rows[:, None], rows[None, :], block[:, :, None], block[:, None, :]]
        scores = entries.max(axis=2).mean(axis=1)
        k = int(np.argmax(scores))
        if scores[k] > best_score:  # strict: the earliest permutation keeps a tie
            best_score, best_index = float(scores[k]), start + k
    return perms[best_index], best_score


def evaluate_mapping(embedder, problems: Sequence[MappingProblem], *, batch_size: int = 64,
                     show_progress: bool = False) -> dict:
    """Relation mapping accuracy of an embedder.

    Args:
        embedder: :class:`relbert.RelBERT` or a baseline (anything with ``embed``).
        problems: from :func:`relbert.data.mapping.read_mapping_file`.
        batch_size: embedding batch size.
        show_progress: progress bar while embedding.

    Returns:
        ``{"accuracy", "exact_match", "n_problems", "per_problem": {id: {"accuracy", "prediction",
        "score"}}}``: accuracy is the percentage of terms mapped to their gold image, per problem
        and averaged over problems; ``exact_match`` counts problems mapped entirely right.
    """
    needed = list(dict.fromkeys(p for prob in problems for side in (prob.source, prob.target_random)
                                for p in ordered_pairs(side)))
    vectors = embedder.embed(needed, batch_size=batch_size, normalize=True, show_progress=show_progress)
    index = {p: i for i, p in enumerate(needed)}
    per_problem: Dict[str, dict] = {}
    for prob in problems:
        n = len(prob.source)
        src = vectors[[index[p] for p in ordered_pairs(prob.source)]]
        tgt = vectors[[index[p] for p in ordered_pairs(prob.target_random)]]
        perm, score = best_permutation(cosine_table(src, tgt, n))
        prediction = [prob.target_random[k] for k in perm]
        correct = sum(p == g for p, g in zip(prediction, prob.target))
        per_problem[prob.id] = {"accuracy": 100.0 * correct / n, "prediction": prediction, "score": score}
    accuracies = [v["accuracy"] for v in per_problem.values()]
    return {
        "accuracy": float(np.mean(accuracies)),
        "exact_match": sum(a == 100.0 for a in accuracies),
        "n_problems": len(problems),
        "per_problem": per_problem,
    }
