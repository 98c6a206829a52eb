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


def test_the_training_selections_paired_se_by_hand():
    from relbert.evaluation.significance import paired_se

    a = {"s1": np.asarray([1, 1, 0, 1], bool), "s2": np.asarray([1, 0], bool)}
    b = {"s1": np.asarray([1, 0, 0, 1], bool), "s2": np.asarray([0, 0], bool)}
    assert paired_se(a, b, "balanced") == pytest.approx(100 * math.sqrt(0.25 / 4 + 0.5 / 2) / 2)
    # weighted: each set by its share of the 6 questions
    assert paired_se(a, b, "weighted") == pytest.approx(100 * math.sqrt((4 / 6) ** 2 * 0.25 / 4 + (2 / 6) ** 2 * 0.5 / 2))


def test_a_run_that_beats_nothing_by_more_than_the_noise_keeps_the_starting_models_vectors(tmp_path):
    """relbert-train on own relations from the shipped default: no epoch and no offset weight beats
    the start by more than one standard error, so the saved model embeds exactly as the start."""
    from pathlib import Path

    from click.testing import CliRunner

    from relbert import RelBERT
    from relbert.cli import train

    data = Path(__file__).resolve().parents[2] / "examples" / "own_relations.jsonl"
    result = CliRunner().invoke(train, ["-o", str(tmp_path / "run"), "--data", str(data), "--epochs", "1",
                                        "--num-negative", "4", "--num-positive", "4", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert "starting model: validation" in result.output
    pairs = [("paris", "france"), ("dog", "bark"), ("kitten", "cat")]
    start = RelBERT.from_pretrained(device="cpu", precision="fp32")
    kept = RelBERT.from_pretrained(str(tmp_path / "run" / "model"), device="cpu", precision="fp32")
    assert "the starting model is kept" in result.output
    assert kept.offset_weight == start.offset_weight
    np.testing.assert_allclose(kept.embed(pairs), start.embed(pairs), atol=1e-6)


def test_a_run_from_an_untrained_base_changes_the_model(tmp_path, tiny_model_path):
    from pathlib import Path

    from click.testing import CliRunner

    from relbert import RelBERT
    from relbert.cli import train

    data = Path(__file__).resolve().parents[2] / "examples" / "own_relations.jsonl"
    result = CliRunner().invoke(train, ["-o", str(tmp_path / "run"), "--data", str(data), "--model", tiny_model_path,
                                        "--epochs", "1", "--num-negative", "4", "--num-positive", "4",
                                        "--precision", "fp32", "--lr", "1e-3"])
    assert result.exit_code == 0, result.output
    pairs = [("paris", "france"), ("dog", "bark")]
    before = RelBERT.from_pretrained(tiny_model_path, device="cpu", precision="fp32", template="d",
                                     aggregation="mask").embed(pairs)
    after = RelBERT.from_pretrained(str(tmp_path / "run" / "model"), device="cpu", precision="fp32",
                                    offset_weight=0).embed(pairs)
    assert np.abs(after - before).max() > 1e-4
