"""Lexical relation classification: an MLP on ``concat(emb(h, t), emb(t, h))``.

As in the paper and the official package: scikit-learn ``MLPClassifier`` (``random_state=0``)
over the grid ``learning_rate_init`` in {1e-3, 1e-4, 1e-5} x ``hidden_layer_sizes`` in
{100, 150, 200}, chosen on validation micro-F1; library defaults where a dataset has no
validation split (CogALex-V). Features are the raw (unnormalized) relation vectors.
"""
from __future__ import annotations

from itertools import product
from typing import Dict, List, Optional

import numpy as np

from ..data.lexical import LabeledPairs

GRID = [{"learning_rate_init": lr, "hidden_layer_sizes": (h,)} for lr, h in product([1e-3, 1e-4, 1e-5], [100, 150, 200])]


def features(embedder, data: LabeledPairs, batch_size: int = 128, show_progress: bool = False) -> np.ndarray:
    """``concat(emb(h, t), emb(t, h))`` for every pair, raw vectors."""
    both = data.pairs + [(t, h) for h, t in data.pairs]
    vectors = embedder.embed(both, batch_size=batch_size, normalize=False, show_progress=show_progress)
    n = len(data.pairs)
    return np.concatenate([vectors[:n], vectors[n:]], axis=1)


def _scores(clf, x: np.ndarray, y: List[str], labels: List[str]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    pred = clf.predict(x)
    per_label = f1_score(y, pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": 100.0 * accuracy_score(y, pred),
        "f1_macro": 100.0 * f1_score(y, pred, average="macro", zero_division=0),
        "f1_micro": 100.0 * f1_score(y, pred, average="micro", zero_division=0),
        "f1_per_label": {label: 100.0 * float(f) for label, f in zip(labels, per_label)},
    }


def evaluate_classification(
    embedder,
    splits: Dict[str, LabeledPairs],
    *,
    grid: Optional[List[dict]] = None,
    seed: int = 0,
    batch_size: int = 128,
    show_progress: bool = False,
) -> dict:
    """Train and score the MLP classifier on one dataset's splits.

    Args:
        embedder: :class:`relbert.RelBERT` or a baseline.
        splits: ``{"train", "test"}`` and optionally ``"val"`` (see :mod:`relbert.data.lexical`).
        grid: classifier configurations to search on ``val`` (default: the paper's grid).
        seed: ``random_state`` of the classifier.

    Returns:
        Test ``accuracy``, ``f1_macro``, ``f1_micro``, ``f1_per_label`` (percent), the chosen
        ``config``, whether its classifier ``converged`` before ``max_iter`` (sklearn's
        ConvergenceWarning is not printed), ``validation`` scores when a validation split
        exists, and split sizes.
    """
    labels = sorted({label for split in splits.values() for label in split.labels})
    if len(set(splits["train"].labels)) < 2:
        from ..errors import DatasetError

        raise DatasetError("the train split has fewer than two labels: there is nothing to classify")
    x = {name: features(embedder, split, batch_size, show_progress) for name, split in splits.items()}
    y = {name: split.labels for name, split in splits.items()}
    config, clf, val = choose_classifier(x, y, labels, grid, seed, show_progress)
    report = _scores(clf, x["test"], y["test"], labels)
    report["config"] = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()} or "library defaults"
    report["converged"] = bool(clf.n_iter_ < clf.max_iter)
    if val is not None:
        report["validation"] = {k: v for k, v in val.items() if k != "f1_per_label"}
    report["sizes"] = {name: len(split) for name, split in splits.items()}
    return report


def choose_classifier(x: Dict[str, np.ndarray], y: Dict[str, List[str]], labels: List[str],
                      grid: Optional[List[dict]] = None, seed: int = 0, show_progress: bool = False):
    """``(config, classifier, validation scores or None)``: the paper's grid fitted on ``train`` and
    chosen on ``val`` micro-F1 (the first best on a tie), or library defaults without ``val``."""
    from ..progress import progress_bar
    from .classifier import fit_mlp

    configs = (grid if grid is not None else GRID) if "val" in x else [{}]
    best = None
    # a fit takes seconds to minutes: the bar (a line a minute off a terminal) gives the rate and time left
    with progress_bar(show_progress, total=len(configs), unit="fit", desc="classifiers") as bar:
        for config in configs:
            # The paper's grid stops at max_iter=200 whether or not the loss has settled; sklearn
            # warns on every such fit. Quiet by default: the report says it instead ("converged").
            clf = fit_mlp(x["train"], y["train"], seed=seed, config=config)
            val = _scores(clf, x["val"], y["val"], labels) if "val" in x else None
            key = val["f1_micro"] if val else 0.0
            if best is None or key > best[0]:
                best = (key, config, clf, val)
            bar.update(1)
    return best[1], best[2], best[3]
