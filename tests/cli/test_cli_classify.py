"""relbert-classify as a user types it: fit on labelled pairs, predict new ones; the figure of
relbert-eval classification reproduced on a benchmark's splits; the saved network equals
scikit-learn's; mistakes are one line."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from helpers.cli_checks import one_error_line
from relbert import RelBERT
from relbert.cli import classify


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    return RelBERT.from_pretrained(tiny_model_path, device="cpu", precision="fp32")


def _f1_macro(gold, predicted):
    labels = sorted(set(gold) | set(predicted))
    scores = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted))
        fp = sum(p == label and g != label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return 100 * sum(scores) / len(scores)


def test_fit_then_predict_reproduces_relbert_eval_classification(fixture_data, tmp_path, tiny_model_path, tiny):
    from relbert.data.lexical import read_lexical_dataset
    from relbert.evaluation.classification import evaluate_classification

    folder = fixture_data / "lexical_relation" / "BLESS"
    clf = tmp_path / "clf"
    fit = CliRunner().invoke(classify, ["fit", str(folder / "train.tsv"), "--validation", str(folder / "val.tsv"),
                                        "-o", str(clf), "--model", tiny_model_path, "--folds", "2", "-q"])
    assert fit.exit_code == 0, fit.output
    assert "cross-validated macro F1" in fit.output
    record = json.loads((clf / "classifier.json").read_text())
    assert record["model"]["dimension"] == tiny.dimension and not list(clf.glob("*.pkl"))
    labels_file = tmp_path / "labels.tsv"
    test = [line.split("\t") for line in (folder / "test.tsv").read_text().splitlines()]
    (tmp_path / "test_pairs.tsv").write_text("".join(f"{h}\t{t}\n" for h, t, _ in test))
    result = CliRunner().invoke(classify, ["predict", str(clf), str(tmp_path / "test_pairs.tsv"), "-o",
                                           str(labels_file), "-q"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in labels_file.read_text().splitlines()]
    assert [r[:2] for r in rows] == [t[:2] for t in test]
    assert all(0 < float(r[3]) <= 1 for r in rows)
    figure = evaluate_classification(tiny, read_lexical_dataset(folder))["f1_macro"]
    assert _f1_macro([t[2] for t in test], [r[2] for r in rows]) == pytest.approx(figure, abs=1e-9)


def test_saved_network_is_sklearns(tmp_path):
    """The numpy forward pass of the saved weights equals scikit-learn's predict_proba (multi-class
    softmax and the two-label logistic output)."""
    from relbert.evaluation.classifier import SavedClassifier, fit_mlp

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 8))
    for y in (np.array(["a", "b", "c"])[rng.integers(0, 3, 60)], np.array(["no", "yes"])[rng.integers(0, 2, 60)]):
        clf = fit_mlp(x, y, config={"hidden_layer_sizes": (5,)})
        saved = SavedClassifier.from_sklearn(clf, {"model": "m"})
        saved.save(tmp_path / f"c{len(set(y))}")
        loaded, _ = SavedClassifier.load(tmp_path / f"c{len(set(y))}")
        np.testing.assert_allclose(loaded.predict_proba(x), clf.predict_proba(x), atol=1e-12)
        assert loaded.predict(x)[0] == clf.predict(x).tolist()


def test_separable_pairs_are_labelled_exactly(tmp_path, tiny_model_path):
    """Made-up pairs whose label is decided by which word family they come from: cross-validated
    macro F1 100 and every new pair labelled right."""
    train = tmp_path / "train.tsv"
    rows = [(f"cap{i}", f"land{i}", "capital") for i in range(12)] + \
           [(f"zoo{i}", f"zoo{i}s", "plural") for i in range(12)]
    train.write_text("".join(f"{h}\t{t}\t{lab}\n" for h, t, lab in rows))
    clf = tmp_path / "clf"
    fit = CliRunner().invoke(classify, ["fit", str(train), "-o", str(clf), "--model", tiny_model_path, "--folds", "3"])
    assert fit.exit_code == 0, fit.output
    assert "cross-validated macro F1 (3 folds): 100.0" in fit.output
    new = tmp_path / "new.tsv"
    new.write_text("cap77\tland77\nzoo88\tzoo88s\n")
    out = tmp_path / "labels.tsv"
    assert CliRunner().invoke(classify, ["predict", str(clf), str(new), "-o", str(out), "-q"]).exit_code == 0
    assert [line.split("\t")[2] for line in out.read_text().splitlines()] == ["capital", "plural"]


def test_mistakes_are_one_line(tmp_path, tiny_model_path, minilm_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\tx\nc\td\n")
    line = one_error_line(CliRunner().invoke(classify, ["fit", str(bad), "-o", str(tmp_path / "c")]))
    assert f"{bad}:2:" in line and "3 tab-separated fields" in line
    one = tmp_path / "one.tsv"
    one.write_text("a\tb\tx\nc\td\tx\n")
    assert "one label only" in one_error_line(CliRunner().invoke(classify, ["fit", str(one), "-o", str(tmp_path / "c")]))
    assert "no such file" in one_error_line(CliRunner().invoke(classify, ["fit", str(tmp_path / "none.tsv"), "-o",
                                                                          str(tmp_path / "c")]))
    line = one_error_line(CliRunner().invoke(classify, ["predict", str(tmp_path), str(bad), "-o", str(tmp_path / "o")]))
    assert "not a relbert-classify folder" in line
    # a classifier fitted on one model's vectors refuses another model's
    train = tmp_path / "t.tsv"
    train.write_text("".join(f"w{i}\tv{i}\t{'ab'[i % 2]}\n" for i in range(8)))
    clf = tmp_path / "clf"
    assert CliRunner().invoke(classify, ["fit", str(train), "-o", str(clf), "--model", tiny_model_path, "--folds", "2",
                                         "-q"]).exit_code == 0
    pairs = tmp_path / "p.tsv"
    pairs.write_text("w1\tv1\n")
    line = one_error_line(CliRunner().invoke(classify, ["predict", str(clf), str(pairs), "-o", str(tmp_path / "o.tsv"),
                                                        "--model", minilm_path]))
    assert "was fitted on vectors of" in line and not (tmp_path / "o.tsv").exists()
