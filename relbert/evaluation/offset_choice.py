"""Choosing a model's offset weight λ on validation: one pass of the encoder, every λ of a grid.

The relation + offset vector at weight λ is :func:`relbert.offsets.combine` of two parts that do
not depend on λ, so the parts of every validation pair are computed once
(:func:`relbert.runtime.pair_vectors.parts`) and each λ of the grid is scored by the project's own
analogy evaluator on the combined vectors: the same accuracy ``relbert-eval analogy
--offset-weight λ`` reports.

The signal is the mean over the validation sets (each set counts once); the question-weighted
mean is reported beside it. The chosen λ is the best mean among the weights that cost no set
more than 1 point against λ = 0 (:func:`best_offset_weight`); a tie keeps the model's present λ
where it is among the best, else goes to the smaller λ.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..offsets import OFFSET_GRID, combine

Pair = Tuple[str, str]


class _Precomputed:
    """An embedder over pairs whose parts are known: ``embed`` combines them at weight λ."""

    def __init__(self, index: Dict[Pair, int], relation: np.ndarray, offset: np.ndarray, weight: float):
        self.index, self.relation, self.offset, self.weight = index, relation, offset, weight

    def embed(self, pairs, *, batch_size=None, normalize=True, show_progress=False):
        rows = np.fromiter((self.index[tuple(p)] for p in pairs), np.int64, len(pairs))
        return combine(self.relation[rows], self.offset[rows], self.weight, normalize)


def _pairs_of(dataset) -> List[Pair]:
    return [p for q in dataset.questions for p in (q.stem, *q.choice)]


def score_offset_grid(model, datasets: Dict[str, object], grid: Sequence[float] = OFFSET_GRID, *,
                      batch_size: Optional[int] = None, show_progress: bool = False) -> List[dict]:
    """One row per λ: ``{"offset_weight", "datasets": {name: accuracy}, "mean", "weighted"}``.

    Args:
        model: a :class:`relbert.RelBERT` (its own offset weight is not used).
        datasets: name -> analogy dataset (``.questions``), e.g. the validation sets.
        grid: the weights to score.
    """
    from .analogy import evaluate_analogy, question_outcomes

    pairs = list(dict.fromkeys(p for d in datasets.values() for p in _pairs_of(d)))
    from ..runtime.pair_vectors import parts

    relation, offset = parts(model, pairs, batch_size=batch_size, show_progress=show_progress)
    index = {p: i for i, p in enumerate(pairs)}
    sizes = {name: len(d.questions) for name, d in datasets.items()}
    rows = []
    for weight in grid:
        embedder = _Precomputed(index, relation, offset, float(weight))
        results = {name: evaluate_analogy(embedder, d) for name, d in datasets.items()}
        scores = {name: r["accuracy"] for name, r in results.items()}
        correct = {name: question_outcomes(r, datasets[name]) for name, r in results.items()}
        rows.append({"offset_weight": float(weight), "datasets": scores,
                     "mean": float(np.mean(list(scores.values()))),
                     "weighted": float(sum(scores[n] * sizes[n] for n in scores) / sum(sizes.values())),
                     CORRECT: correct})
    return rows


#: Where a grid row keeps each question's outcome (for the paired standard error; not recorded).
CORRECT = "_correct"


def paired_difference(a: dict, b: dict) -> Tuple[float, float]:
    """``(mean of a - mean of b, its standard error)`` in points, paired per question, on the signal
    this choice uses: the mean over the sets, each counting once (the standard error is the
    training selection's, :func:`relbert.evaluation.significance.paired_se`)."""
    from .significance import paired_se

    return a["mean"] - b["mean"], paired_se(a[CORRECT], b[CORRECT], "balanced")


def public(rows: List[dict]) -> List[dict]:
    """The rows as recorded (without the per-question outcomes)."""
    return [{k: v for k, v in r.items() if k != CORRECT} for r in rows]


def best_offset_weight(rows: List[dict], max_drop: Optional[float] = 1.0, prefer: Optional[float] = None) -> float:
    """The chosen λ: the best mean among the admissible weights; on a tie ``prefer`` (the model's
    present weight: no change without evidence) where it is among the best, else the smaller λ.

    A weight is admissible when no set scores more than ``max_drop`` points below its score at
    λ = 0 (the grid's first row with weight 0, where present): the combined vector should lift
    the mean without costing any one benchmark, the same rule the shipped models are held to on
    their test splits, applied here on validation. ``max_drop=None`` admits every weight.
    """
    base = next((r for r in rows if r["offset_weight"] == 0), None)

    def admissible(row):
        if max_drop is None or base is None:
            return True
        return all(row["datasets"][n] >= base["datasets"][n] - max_drop - 1e-9 for n in base["datasets"])

    candidates = [r for r in rows if admissible(r)]
    top = max(round(r["mean"], 9) for r in candidates)
    tied = [r["offset_weight"] for r in candidates if round(r["mean"], 9) == top]
    return prefer if prefer in tied else min(tied)


def grid_table(rows: List[dict], chosen: Optional[float] = None) -> str:
    """The grid as a text table: one line per λ, a column per set, the mean and the weighted mean."""
    names = list(rows[0]["datasets"])
    short = [n.split("/")[0] for n in names]
    width = max(8, *(len(n) + 1 for n in short))
    head = f"{'lambda':>7}" + "".join(f"{n:>{width}}" for n in short) + f"{'mean':>8}{'weighted':>10}"
    lines = [head]
    for r in rows:
        mark = "  <- chosen" if chosen is not None and r["offset_weight"] == chosen else ""
        lines.append(f"{r['offset_weight']:>7.2f}" + "".join(f"{r['datasets'][n]:>{width}.1f}" for n in names)
                     + f"{r['mean']:>8.2f}{r['weighted']:>10.2f}{mark}")
    return "\n".join(lines)


def choose_for_saved_model(folder, datasets: Dict[str, object], grid: Sequence[float] = OFFSET_GRID, *,
                           device: Optional[str] = None, max_drop: Optional[float] = 1.0,
                           batch_size: Optional[int] = None) -> dict:
    """Choose the offset weight of the model saved in ``folder`` on ``datasets`` and write it into
    the folder's ``config.json`` (``relbert_config["offset_weight"]``); returns the record
    ``{"offset_weight", "grid", "rule"}`` (``relbert-train`` does this at the end of a run)."""
    import json
    from pathlib import Path

    from ..atomic import write_json_atomic
    from ..models.loading import stored_offset_weight
    from ..model import RelBERT

    folder = Path(folder)
    model = RelBERT.from_pretrained(str(folder), device=device, precision="fp32", offset_weight=0)
    present = stored_offset_weight(model.encoder.config)
    rows = score_offset_grid(model, datasets, grid, batch_size=batch_size)
    best = best_offset_weight(rows, max_drop, prefer=present)
    chosen, kept = keep_unless_clear(rows, best, present)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    block = dict(config.get("relbert_config") or model.relbert_config())
    block.pop("offset_weight", None)
    if chosen > 0:
        block["offset_weight"] = chosen
    config["relbert_config"] = block
    write_json_atomic(config_path, config, indent=2)
    return {"offset_weight": chosen, "max_drop": max_drop, "grid": public(rows), "best": best, "kept": kept}


def keep_unless_clear(rows: List[dict], best: float, present: float) -> Tuple[float, Optional[dict]]:
    """``(λ to use, why the present one was kept or None)``: the best λ replaces the model's present
    λ only when it gains more than one standard error of the paired difference on these questions
    (a gain within the noise is no evidence: the model keeps what it had)."""
    by_weight = {r["offset_weight"]: r for r in rows}
    if best == present or present not in by_weight:
        return best, None
    gain, se = paired_difference(by_weight[best], by_weight[present])
    if gain > se:
        return best, None
    return present, {"best": best, "gain": gain, "se": se}


def parse_grid(text: Optional[str]) -> Tuple[float, ...]:
    """``--grid`` as weights (None: :data:`relbert.offsets.OFFSET_GRID`); one-line UsageError for
    text that is not comma-separated numbers >= 0 with 0 among them (the reference of --max-drop)."""
    from ..errors import UsageError
    from ..offsets import OFFSET_GRID

    try:
        weights = OFFSET_GRID if text is None else tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--grid: expected comma-separated numbers, got {text!r}") from None
    if not weights or any(not w >= 0 for w in weights):
        raise UsageError("--grid: give one or more weights >= 0")
    if 0.0 not in weights:
        raise UsageError("--grid must include 0 (the relation vector alone: the reference of --max-drop)")
    return weights
