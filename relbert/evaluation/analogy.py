"""Analogy accuracy: pick the candidate pair whose vector is most cosine-similar to the stem's."""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Tuple

import numpy as np
import torch

from ..runtime import ops
from ..data.analogy import AnalogyDataset
from ..errors import OptionError

Pair = Tuple[str, str]


def _vectors(embedder, pairs: List[Pair], batch_size: int, show_progress: bool) -> Dict[Pair, np.ndarray]:
    unique = list(dict.fromkeys(pairs))
    vectors = embedder.embed(unique, batch_size=batch_size, normalize=True, show_progress=show_progress)
    return {p: i for i, p in enumerate(unique)}, torch.from_numpy(vectors)


def evaluate_analogy(
    embedder,
    dataset: AnalogyDataset,
    *,
    reverse_pair: bool = False,
    bidirectional: bool = False,
    batch_size: int = 64,
    show_progress: bool = False,
    kernel: str = "auto",
) -> dict:
    """Accuracy of an embedder on one analogy dataset.

    Every distinct pair is embedded once; all questions are scored in one
    :func:`relbert.runtime.ops.analogy_scores` call.

    Args:
        embedder: :class:`relbert.RelBERT` or a baseline.
        dataset: questions from :func:`relbert.data.analogy.read_analogy_file`.
        reverse_pair: score the reversed pairs (tail, head) instead (official ``reverse_pair``).
        bidirectional: score = forward cosine x reversed cosine (official ``bi_direction_pair``).
        batch_size: embedding batch size.
        show_progress: progress bar while embedding.
        kernel: ops kernel ("auto", "triton", "torch").

    Returns:
        ``{"accuracy", "n_questions", "per_prefix": {prefix: {"accuracy", "n_questions"}}, "predictions"}``
        with accuracies in percent.
    """
    if reverse_pair and bidirectional:
        raise OptionError("choose reverse_pair or bidirectional, not both")
    questions = dataset.questions

    def flip(pair: Pair) -> Pair:
        return (pair[1], pair[0])

    forward = [q.stem for q in questions] + [c for q in questions for c in q.choice]
    needed = [flip(p) for p in forward] if reverse_pair else forward + ([flip(p) for p in forward] if bidirectional else [])
    index, table = _vectors(embedder, needed, batch_size, show_progress)

    def gather(pairs: List[Pair], flipped: bool) -> torch.Tensor:
        return table[[index[flip(p) if flipped else p] for p in pairs]]

    stems = [q.stem for q in questions]
    choices = [c for q in questions for c in q.choice]
    offsets = torch.tensor([0] + list(np.cumsum([len(q.choice) for q in questions])), dtype=torch.int64)
    kwargs = {}
    if bidirectional:
        kwargs = {"reversed_queries": gather(stems, True), "reversed_candidates": gather(choices, True)}
    scores, best = ops.analogy_scores(gather(stems, reverse_pair), gather(choices, reverse_pair), offsets,
                                      kernel=kernel, **kwargs)
    predictions = best.tolist()
    correct = [p == q.answer for p, q in zip(predictions, questions)]
    groups: Dict[str, List[bool]] = defaultdict(list)
    for q, ok in zip(questions, correct):
        if q.prefix is not None:
            groups[q.prefix].append(ok)
    return {
        "accuracy": 100.0 * float(np.mean(correct)),
        "n_questions": len(questions),
        "per_prefix": {k: {"accuracy": 100.0 * float(np.mean(v)), "n_questions": len(v)} for k, v in sorted(groups.items())},
        "predictions": predictions,
    }


def question_outcomes(result: dict, dataset) -> np.ndarray:
    """Each question's outcome (bool) in :func:`evaluate_analogy`'s ``result`` on ``dataset``: what a
    paired comparison of two models on the same questions needs."""
    return np.asarray([p == q.answer for p, q in zip(result["predictions"], dataset.questions)], dtype=bool)
