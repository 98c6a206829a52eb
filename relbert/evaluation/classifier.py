"""A classifier for a user's labelled pairs: the paper's MLP on the relation vectors, saved without pickle.

``relbert-classify fit`` trains scikit-learn's ``MLPClassifier`` on ``concat(emb(h, t), emb(t, h))``
(the features of :mod:`relbert.evaluation.classification`, so a fit on a benchmark's train split
predicts its test split exactly as ``relbert-eval classification`` scores it), reports
cross-validated macro F1 and a per-label table, and saves the network as safetensors weights
plus a JSON record (labels, activations, the model that made the features and its options).
No code is pickled: :class:`SavedClassifier` runs the forward pass in numpy.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import ClassifierError, UserError

FORMAT = 1
RECORD = "classifier.json"
#: The keys of a classifier record (0.1 and 0.2 wrote the same set); others warn once.
RECORD_KEYS = ("format", "labels", "layers", "activation", "out_activation", "features", "model", "config",
               "cross_validation", "pairs", "seed", "trained_on")
WEIGHTS = "classifier.safetensors"


def fit_mlp(x: np.ndarray, y: Sequence[str], *, seed: int = 0, config: Optional[dict] = None):
    """scikit-learn's MLPClassifier as the evaluation fits it (ConvergenceWarning kept quiet)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(random_state=seed, **(config or {})).fit(x, list(y))


def cross_validate(x: np.ndarray, y: Sequence[str], *, folds: int = 5, seed: int = 0,
                   config: Optional[dict] = None) -> dict:
    """Stratified k-fold macro F1 (and per-label F1 over the pooled out-of-fold predictions)."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    labels = sorted(set(y.tolist()))
    smallest = min(int((y == label).sum()) for label in labels)
    folds = min(folds, smallest)
    if folds < 2:
        raise UserError("cross-validation needs at least 2 pairs of every label "
                        f"({', '.join(lab for lab in labels if (y == lab).sum() < 2)} has fewer)")
    predicted = np.empty(len(y), dtype=object)
    per_fold = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        clf = fit_mlp(x[train], y[train], seed=seed, config=config)
        predicted[test] = clf.predict(x[test])
        per_fold.append(100.0 * f1_score(y[test], predicted[test], average="macro", zero_division=0))
    per_label = f1_score(y, predicted.astype(str), labels=labels, average=None, zero_division=0)
    counts = {label: int((y == label).sum()) for label in labels}
    return {"folds": folds, "f1_macro": float(np.mean(per_fold)), "f1_macro_std": float(np.std(per_fold)),
            "f1_per_label": {lab: 100.0 * float(f) for lab, f in zip(labels, per_label)}, "counts": counts}


#: scikit-learn's hidden-layer activations, as the forward pass computes them.
HIDDEN_ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "identity": lambda z: z,
                      "logistic": lambda z: 1 / (1 + np.exp(-z))}


@dataclass
class SavedClassifier:
    """The network of a fitted ``MLPClassifier`` and what made its features."""

    labels: List[str]
    weights: List[np.ndarray]
    biases: List[np.ndarray]
    activation: str
    out_activation: str
    model: dict  # the model that made the features: name, template, aggregation, offset weight, dimension

    @classmethod
    def from_sklearn(cls, clf, model: dict) -> "SavedClassifier":
        return cls([str(c) for c in clf.classes_], [np.asarray(w, np.float64) for w in clf.coefs_],
                   [np.asarray(b, np.float64) for b in clf.intercepts_], clf.activation, clf.out_activation_, model)

    def problem(self) -> Optional[str]:
        """What makes this network unusable (read from a damaged folder), or None."""
        if self.activation not in HIDDEN_ACTIVATIONS:
            return f"unknown activation {self.activation!r}"
        if self.out_activation not in ("logistic", "softmax"):
            return f"unknown out_activation {self.out_activation!r}"
        shapes = [(w.shape, b.shape) for w, b in zip(self.weights, self.biases)]
        if any(len(ws) != 2 or bs != (ws[1],) for ws, bs in shapes) or any(
                a[0][1] != b[0][0] for a, b in zip(shapes, shapes[1:])):
            return "the layers' shapes do not chain"
        outputs = self.weights[-1].shape[1]
        expected = 1 if self.out_activation == "logistic" else len(self.labels)
        if outputs != expected or len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            return f"{len(self.labels)} distinct labels for {outputs} outputs ({self.out_activation})"
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                return f"non-finite values in layer {i}"
        return None

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``(N, labels)`` probabilities: scikit-learn's forward pass, in numpy."""
        a = np.asarray(x, np.float64)
        hidden = HIDDEN_ACTIVATIONS[self.activation]
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = hidden(a @ w + b)
        z = a @ self.weights[-1] + self.biases[-1]
        if self.out_activation == "logistic":  # two labels: one output, the second label's probability
            p = 1 / (1 + np.exp(-z[:, 0]))
            return np.stack([1 - p, p], axis=1)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> Tuple[List[str], np.ndarray]:
        """Labels and their probabilities."""
        probs = self.predict_proba(x)
        bad = ~np.isfinite(probs).all(axis=1)
        if bad.any():
            raise ClassifierError(f"row {int(np.argmax(bad))}: the classifier gives a non-finite probability "
                                  "(its features hold NaN or inf); nothing was written")
        best = probs.argmax(axis=1)
        return [self.labels[i] for i in best], probs[np.arange(len(best)), best]

    def save(self, folder: Union[str, Path], extra: Optional[dict] = None) -> None:
        from safetensors.numpy import save_file

        from ..atomic import write_json_atomic

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {f"weight.{i}": w for i, w in enumerate(self.weights)}
        tensors.update({f"bias.{i}": b for i, b in enumerate(self.biases)})
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(folder / WEIGHTS))
        record = {"format": FORMAT, "labels": self.labels, "layers": len(self.weights), "activation": self.activation,
                  "out_activation": self.out_activation, "features": "concat(emb(h, t), emb(t, h)), raw vectors",
                  "model": self.model, **(extra or {})}
        write_json_atomic(folder / RECORD, record, indent=1, ensure_ascii=False)

    @classmethod
    def load(cls, folder: Union[str, Path]) -> Tuple["SavedClassifier", dict]:
        folder = Path(folder)
        if not (folder / RECORD).is_file() or not (folder / WEIGHTS).is_file():
            raise ClassifierError(f"{folder}: not a relbert-classify folder (expected {RECORD} and {WEIGHTS}; make "
                                  "one with relbert-classify fit)")
        try:
            from safetensors.numpy import load_file

            record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
            tensors = load_file(str(folder / WEIGHTS))
            layers = int(record["layers"])
            weights = [tensors[f"weight.{i}"] for i in range(layers)]
            biases = [tensors[f"bias.{i}"] for i in range(layers)]
            saved = cls(list(record["labels"]), weights, biases, record["activation"], record["out_activation"],
                        dict(record["model"]))
        except Exception as err:  # noqa: BLE001 - json, numpy and safetensors each raise their own
            raise ClassifierError(f"{folder}: corrupt classifier ({str(err).splitlines()[0][:120]}); fit it again "
                                  "with relbert-classify fit") from None
        problem = saved.problem()
        if problem:
            raise ClassifierError(f"{folder}: corrupt classifier ({problem}); fit it again with relbert-classify fit")
        if record.get("format") != FORMAT:
            raise ClassifierError(f"{folder}: classifier format {record.get('format')}, this relbert reads {FORMAT}")
        from ..io import warn_unknown_keys

        warn_unknown_keys(record, RECORD_KEYS, f"{folder / RECORD}")
        return saved, record


def check_same_model(saved: SavedClassifier, model, folder) -> None:
    """Refuse, in one line, features from another model than the classifier's (its record is the
    model's :meth:`~relbert.RelBERT.kind`, written at fit time)."""
    from ..embedding.kind import SAME_FEATURES, VectorKind

    model.kind().check(VectorKind.from_record(saved.model), SAME_FEATURES, lambda key, mine, theirs: (
        f"{folder} was fitted on vectors of {key} {theirs!r}, not {mine!r}: drop --model (and its options) to use "
        "the classifier's own"))
