"""Relation mapping: reader errors, the exact search against a brute-force re-computation of the
scoring rule, tie handling, the real 20 problems, and ``relbert-eval mapping``."""
from __future__ import annotations

import json
from itertools import permutations

import numpy as np
import pytest
from click.testing import CliRunner

from relbert.cli import evaluate
from relbert.data.mapping import MappingProblem, read_mapping_file
from relbert.evaluation.mapping import best_permutation, cosine_table, evaluate_mapping, ordered_pairs
from relbert.errors import InputError


def brute_force(problem: MappingProblem, vector_of) -> list:
    """The official rule, computed term by term: every permutation of target_random, scored as
    mean_i max_{j != i} cos(r(s_i, s_j), r(P(s_i), P(s_j))); the first best permutation wins."""
    def cos(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    src, n = problem.source, len(problem.source)
    best, best_score = None, -np.inf
    for perm in permutations(problem.target_random):
        score = np.mean([max(cos(vector_of(src[i], src[j]), vector_of(perm[i], perm[j])) for j in range(n) if j != i)
                         for i in range(n)])
        if score > best_score:
            best, best_score = list(perm), score
    return best


class RandomPairVectors:
    """An embedder giving each ordered pair a fixed random vector."""

    def __init__(self, dim=8, seed=0):
        self.rng = np.random.default_rng(seed)
        self.table = {}
        self.dim = dim

    def vector(self, h, t):
        if (h, t) not in self.table:
            self.table[(h, t)] = self.rng.standard_normal(self.dim)
        return self.table[(h, t)]

    def embed(self, pairs, *, batch_size=64, normalize=True, show_progress=False):
        v = np.stack([self.vector(h, t) for h, t in pairs]).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True) if normalize else v


@pytest.mark.parametrize("n, seed", [(2, 0), (3, 1), (4, 2), (5, 3), (6, 4), (7, 5)])
def test_exact_search_equals_brute_force(n, seed):
    rng = np.random.default_rng(seed)
    source = [f"s{i}" for i in range(n)]
    target = [f"t{i}" for i in range(n)]
    problem = MappingProblem("p", source, target, [target[k] for k in rng.permutation(n)])
    embedder = RandomPairVectors(seed=seed)
    result = evaluate_mapping(embedder, [problem])
    expected = brute_force(problem, embedder.vector)
    assert result["per_problem"]["p"]["prediction"] == expected
    correct = sum(a == b for a, b in zip(expected, target))
    assert result["accuracy"] == pytest.approx(100.0 * correct / n)
    assert result["exact_match"] == int(correct == n)


def test_ties_never_favour_the_gold_order():
    """All relation vectors equal: every mapping scores the same, and the first permutation of
    target_random wins (the official code's gold-first enumeration would score 100%)."""
    problem = MappingProblem("tie", ["a", "b", "c", "d"], ["w", "x", "y", "z"], ["z", "y", "x", "w"])

    class Constant:
        def embed(self, pairs, **_):
            return np.ones((len(pairs), 4), np.float32) / 2

    result = evaluate_mapping(Constant(), [problem])
    assert result["per_problem"]["tie"]["prediction"] == ["z", "y", "x", "w"]
    assert result["accuracy"] == 0.0


def test_cosine_table_layout():
    rng = np.random.default_rng(0)
    n = 3
    src, tgt = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    src /= np.linalg.norm(src, axis=1, keepdims=True)
    tgt /= np.linalg.norm(tgt, axis=1, keepdims=True)
    table = cosine_table(src, tgt, n)
    pairs = ordered_pairs(["0", "1", "2"])
    for (i, j), u in zip(pairs, src):
        for (a, b), v in zip(pairs, tgt):
            assert table[int(i), int(j), int(a), int(b)] == pytest.approx(float(u @ v))
    assert np.isneginf(table[0, 0]).all() and np.isneginf(table[:, :, 1, 1]).all()
    perm, score = best_permutation(table)
    assert sorted(perm.tolist()) == [0, 1, 2] and np.isfinite(score)


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


GOOD = {"id": "x", "source": ["sun", "planet", "mass"], "target": ["nucleus", "electron", "charge"],
        "target_random": ["charge", "nucleus", "electron"]}


@pytest.mark.parametrize("change, why", [
    ({"target_random": ["charge", "nucleus", "atom"]}, "not a permutation of target"),
    ({"source": ["sun", "sun", "mass"]}, "repeats the term 'sun'"),
    ({"source": ["sun"], "target": ["nucleus"], "target_random": ["nucleus"]}, "at least 2 terms"),
    ({"source": [f"s{i}" for i in range(11)], "target": [f"t{i}" for i in range(11)],
      "target_random": [f"t{i}" for i in range(11)]}, "at most 10"),
    ({"target": ["nucleus", "electron"]}, "source has 3 terms but target has 2"),
    ({"source": "sun planet"}, "source must be a list of words"),
    ({"target_random": None}, "target_random must be a list"),
])
def test_malformed_problems_name_file_and_line(tmp_path, change, why):
    path = write(tmp_path / "bad.jsonl", [GOOD, {**GOOD, **change}])
    with pytest.raises(InputError) as info:
        read_mapping_file(path)
    assert str(info.value).startswith(f"{path}:2: ") and why in str(info.value)


def test_real_problems_match_a_brute_force_recomputation(default_model, eval_data):
    from conftest import FULL_DATA

    problems = read_mapping_file(eval_data / "relation_mapping" / "data.jsonl")
    assert len(problems) == (20 if FULL_DATA else 3)
    result = evaluate_mapping(default_model, problems)
    small = [p for p in problems if len(p.source) <= 7]  # brute force in Python: up to 5,040 permutations each
    assert len(small) >= (12 if FULL_DATA else 3)
    pairs = list(dict.fromkeys(q for p in small for side in (p.source, p.target_random) for q in ordered_pairs(side)))
    vectors = dict(zip(pairs, default_model.embed(pairs)))
    for problem in small:
        expected = brute_force(problem, lambda h, t: vectors[(h, t)])
        assert result["per_problem"][problem.id]["prediction"] == expected, problem.id
    accuracies = [v["accuracy"] for v in result["per_problem"].values()]
    assert result["accuracy"] == pytest.approx(np.mean(accuracies))
    assert 0 <= result["exact_match"] <= len(problems)


def test_cli_mapping_report_and_errors(tmp_path, tiny_model_path):
    runner = CliRunner()
    data = write(tmp_path / "problems.jsonl", [GOOD, {**GOOD, "id": "y", "target_random": ["electron", "charge", "nucleus"]}])
    out = tmp_path / "report.json"
    result = runner.invoke(evaluate, ["mapping", "--dataset", str(data), "--model", tiny_model_path, "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["task"] == "mapping" and report["datasets"]["problems"]["n_problems"] == 2
    assert "exact match" in result.output
    diff = runner.invoke(evaluate, ["mapping", "--dataset", str(data), "--model", tiny_model_path, "--baseline", "diff", "-q"])
    assert diff.exit_code == 0, diff.output
    bad = write(tmp_path / "bad.jsonl", [GOOD, {**GOOD, "target_random": ["a", "b", "c"]}])
    failed = runner.invoke(evaluate, ["mapping", "--dataset", str(bad), "--model", tiny_model_path, "-q"])
    assert failed.exit_code == 2 and f"{bad}:2: target_random is not a permutation of target" in failed.output
