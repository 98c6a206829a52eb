"""No choice made on noise: the offset weight chosen on validation replaces the model's own only
when its gain is more than one standard error of the paired per-question difference (the
standard error computed by hand here)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from relbert.evaluation.offset_choice import CORRECT, keep_unless_clear, paired_difference, public


def row(weight, **sets):
    correct = {name: np.asarray(v, bool) for name, v in sets.items()}
    scores = {name: 100.0 * v.mean() for name, v in correct.items()}
    return {"offset_weight": weight, "datasets": scores, "mean": float(np.mean(list(scores.values()))),
            "weighted": 0.0, CORRECT: correct}


def test_the_paired_standard_error_by_hand():
    a = row(0.4, s1=[1, 1, 0, 1], s2=[1, 0])
    b = row(0.3, s1=[1, 0, 0, 1], s2=[0, 0])
    gain, se = paired_difference(a, b)
    # per-set differences: s1 [0, 1, 0, 0] mean 0.25, sample var 0.25; s2 [1, 0] mean 0.5, var 0.5
    assert gain == pytest.approx(100 * (0.25 + 0.5) / 2)
    assert se == pytest.approx(100 * math.sqrt(0.25 / 4 + 0.5 / 2) / 2)


def test_a_gain_of_one_question_in_32_keeps_the_models_own_weight():
    """The first-hour scenario: 0.4 beat the shipped 0.3 by one question of 32."""
    base = [1] * 20 + [0] * 12
    better = base.copy()
    better[20] = 1
    rows = [row(0.0, own=base), row(0.3, own=base), row(0.4, own=better)]
    chosen, kept = keep_unless_clear(rows, best=0.4, present=0.3)
    assert chosen == 0.3 and kept["best"] == 0.4
    assert kept["gain"] == pytest.approx(100 / 32) and kept["gain"] <= kept["se"]


def test_a_clear_gain_changes_the_weight():
    base = [1] * 10 + [0] * 22
    better = [1] * 22 + [0] * 10  # twelve more questions right, none lost
    rows = [row(0.3, own=base), row(0.7, own=better)]
    chosen, kept = keep_unless_clear(rows, best=0.7, present=0.3)
    assert chosen == 0.7 and kept is None
    assert CORRECT not in public(rows)[0]
