"""relbert-eval: analogy and classification on fixtures with answers known by construction."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from relbert.cli import evaluate
from relbert.data.analogy import read_analogy_file
from relbert.data.lexical import LabeledPairs, read_lexical_dataset
from relbert.evaluation import evaluate_analogy, evaluate_classification
from relbert.evaluation.baselines import WordDiffBaseline
from relbert.errors import InputError

from helpers.analogy_files import known_answer_questions, write_jsonl


def test_known_answers_score_100(minilm, tmp_path):
    dataset = read_analogy_file(write_jsonl(tmp_path / "known.jsonl", known_answer_questions()))
    for kwargs in ({}, {"bidirectional": True}, {"reverse_pair": True}):
        result = evaluate_analogy(minilm, dataset, **kwargs)
        assert result["accuracy"] == 100.0 and result["n_questions"] == 12
        assert set(result["per_prefix"]) == {"group0", "group1"}
    # Moving the answer index off the identical pair must give 0.
    wrong = [{**r, "answer": (r["answer"] + 1) % len(r["choice"])} for r in known_answer_questions()]
    assert evaluate_analogy(minilm, read_analogy_file(write_jsonl(tmp_path / "w.jsonl", wrong)))["accuracy"] == 0.0


def test_accuracy_equals_numpy_recomputation(minilm, eval_data):
    dataset = read_analogy_file(eval_data / "analogy" / "u4" / "valid.jsonl")
    result = evaluate_analogy(minilm, dataset, bidirectional=True)

    def cos(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    correct = []
    for q in dataset.questions:
        v = minilm.embed([q.stem, *q.choice, q.stem[::-1], *[c[::-1] for c in q.choice]], normalize=False)
        k = len(q.choice)
        sims = [cos(v[0], v[1 + i]) * cos(v[k + 1], v[k + 2 + i]) for i in range(k)]
        correct.append(int(np.argmax(sims)) == q.answer)
    assert result["accuracy"] == pytest.approx(100.0 * np.mean(correct))


@pytest.mark.parametrize("line, problem", [
    ('{"stem": ["a", "b"], "choice": [["c", "d"]], "answer": 1}', "answer 1 out of range"),
    ('{"stem": ["a", "b"], "choice": [], "answer": 0}', "choice must be a non-empty list"),
    ('{"stem": ["a", "b", "c"], "choice": [["c", "d"]], "answer": 0}', "stem must be a pair"),
    ('{"stem": ["a", "b"], "choice": [["c"]], "answer": 0}', "choice 0 must be a pair"),
    ('{"stem": ["a", "b"], "choice": [["c", "d"]], "answer": 0', "bad JSON"),
    ('{"stem": ["a", "b"], "choice": [["c", "d"]]}', "missing field 'answer'"),
])
def test_malformed_analogy_file(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"stem": ["x", "y"], "choice": [["c", "d"], ["x", "y"]], "answer": 1}\n' + line + "\n")
    with pytest.raises(InputError, match=problem) as err:
        read_analogy_file(path)
    assert str(err.value).startswith(f"{path}:2: ")
    result = CliRunner().invoke(evaluate, ["analogy", "--dataset", str(path), "-q"])
    assert result.exit_code == 2 and f"{path}:2: " in result.output


def test_word_diff_baseline_is_tail_minus_head(minilm):
    base = WordDiffBaseline(minilm)
    words = base.word_vectors(["paris", "france"])
    pair = base.embed([("paris", "france")], normalize=False)[0]
    np.testing.assert_allclose(pair, words[1] - words[0], atol=1e-6)
    # Mean over the word's own tokens: recompute with the HF tokenizer directly.
    import torch

    enc = minilm.hf_tokenizer("france", return_tensors="pt")
    with torch.no_grad():
        hidden = minilm.encoder(**enc).last_hidden_state[0, 1:-1]
    np.testing.assert_allclose(words[1], hidden.mean(0).numpy(), atol=1e-5)


def test_classification_small(minilm, eval_data):
    splits = read_lexical_dataset(eval_data / "lexical_relation" / "BLESS")
    small = {name: LabeledPairs(s.pairs[:: max(1, len(s) // 150)][:150], s.labels[:: max(1, len(s) // 150)][:150])
             for name, s in splits.items()}
    grid = [{"learning_rate_init": 1e-3, "hidden_layer_sizes": (50,)}, {"learning_rate_init": 1e-2, "hidden_layer_sizes": (20,)}]
    report = evaluate_classification(minilm, small, grid=grid)
    assert report["config"] in [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in grid]
    assert report["sizes"] == {name: len(s) for name, s in small.items()} and min(report["sizes"].values()) >= 10
    # Independent re-computation with the chosen config.
    from sklearn.metrics import f1_score
    from sklearn.neural_network import MLPClassifier

    def feats(s):
        fwd = minilm.embed(s.pairs, normalize=False)
        back = minilm.embed([(t, h) for h, t in s.pairs], normalize=False)
        return np.concatenate([fwd, back], axis=1)

    config = {k: tuple(v) if isinstance(v, list) else v for k, v in report["config"].items()}
    clf = MLPClassifier(random_state=0, **config).fit(feats(small["train"]), small["train"].labels)
    pred = clf.predict(feats(small["test"]))
    assert report["f1_micro"] == pytest.approx(100 * f1_score(small["test"].labels, pred, average="micro"), abs=1e-6)
    assert set(report["f1_per_label"]) == {label for s in small.values() for label in s.labels}


def test_cogalex_reader(eval_data):
    from conftest import FULL_DATA

    splits = read_lexical_dataset(eval_data / "lexical_relation" / "CogALexV")
    assert set(splits) == {"train", "test"}  # no validation split
    assert len(splits["train"]) == (3054 if FULL_DATA else 40)
    assert set(splits["train"].labels) == {"SYN", "ANT", "HYPER", "PART_OF", "RANDOM"}


class _LookupEmbedder:
    """Relation vectors from a fixed table: the classifier's input is known exactly."""

    def __init__(self, table):
        self.table = table

    def embed(self, pairs, batch_size=128, normalize=False, show_progress=False):
        return np.stack([self.table[p] for p in pairs])


def test_classification_is_quiet_and_reports_convergence():
    # Two separable classes; an MLP stopped after 2 iterations cannot have converged.
    rng = np.random.default_rng(0)
    pairs = [(f"h{i}", f"t{i}") for i in range(60)]
    labels = ["a" if i % 2 else "b" for i in range(60)]
    table = {}
    for (h, t), label in zip(pairs, labels):
        centre = 3.0 if label == "a" else -3.0
        table[(h, t)] = rng.normal(centre, 0.1, 4).astype(np.float32)
        table[(t, h)] = rng.normal(-centre, 0.1, 4).astype(np.float32)
    splits = {"train": LabeledPairs(pairs[:40], labels[:40]), "val": LabeledPairs(pairs[40:50], labels[40:50]),
              "test": LabeledPairs(pairs[50:], labels[50:])}
    embedder = _LookupEmbedder(table)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stopped = evaluate_classification(embedder, splits, grid=[{"max_iter": 2, "hidden_layer_sizes": (8,)}])
        settled = evaluate_classification(embedder, splits, grid=[{"learning_rate_init": 1e-2, "hidden_layer_sizes": (8,)}])
    assert [str(w.message) for w in caught] == []
    assert stopped["converged"] is False
    assert settled["converged"] is True and settled["f1_micro"] == 100.0


def test_classification_shows_its_fits_with_a_rate_and_time_left(minilm, eval_data, monkeypatch, capsys):
    """Off a terminal, the classifier fits report a line (a minute apart at most) with the rate and
    the time left; here the clock jumps 61 s a reading, so every fit prints one."""
    import itertools

    from relbert.data.lexical import LabeledPairs, read_lexical_dataset

    splits = read_lexical_dataset(eval_data / "lexical_relation" / "BLESS")
    small = {name: LabeledPairs(s.pairs[:60], s.labels[:60]) for name, s in splits.items()}
    for name in small:  # two labels at least in every split
        small[name] = LabeledPairs(small[name].pairs + [("cat", "animal"), ("oak", "tree")],
                                   small[name].labels + ["hyper", "hyper"])
    clock = itertools.count(0.0, 61.0)
    monkeypatch.setattr("relbert.progress.time.monotonic", lambda: next(clock))
    grid = [{"learning_rate_init": 1e-3, "hidden_layer_sizes": (h,), "max_iter": 5} for h in (10, 20, 30)]
    evaluate_classification(minilm, small, grid=grid, show_progress=True)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("classifiers:")]
    assert [ln.split(" (")[0] for ln in lines] == ["classifiers: 1/3 fit", "classifiers: 2/3 fit", "classifiers: 3/3 fit"]
    assert "fit/s, about" in lines[0] and "s left" in lines[0]
