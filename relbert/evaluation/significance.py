"""Whether one model beats another on the same questions: the paired standard error of the
difference (the training's epoch choice and the offset choice both use it: no change on noise)."""
from __future__ import annotations

import math
from typing import Dict


def paired_se(a: Dict[str, object], b: Dict[str, object], selection: str) -> float:
    """Standard error (points) of the difference of two models' :func:`selection_score` on the same
    questions, paired per question (``a``, ``b``: each set's per-question outcomes): a gain smaller
    than this is no evidence that one is better."""
    names = list(a)
    total = sum(len(a[n]) for n in names)
    variance = 0.0
    for n in names:
        d = a[n].astype(float) - b[n].astype(float)
        weight = len(d) / total if selection == "weighted" else 1.0 / len(names)
        variance += weight ** 2 * (float(d.var(ddof=1)) / len(d) if len(d) > 1 else 0.0)
    return 100.0 * math.sqrt(variance)
