"""Evaluation: analogy questions, lexical relation classification, baselines and reports.

Any *embedder* works: an object with ``embed(pairs, *, batch_size, normalize, show_progress)``
returning a float32 (N, H) array and ``describe()`` returning report metadata —
:class:`relbert.RelBERT` and the baselines in :mod:`relbert.evaluation.baselines`.
"""
from .analogy import evaluate_analogy
from .classification import evaluate_classification

__all__ = ["evaluate_analogy", "evaluate_classification"]
