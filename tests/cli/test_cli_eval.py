"""relbert-eval: reports, comparisons and every mistake as one line before anything runs."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from helpers.cli_checks import no_model_load, one_error_line
from relbert.cli import embed
from relbert.cli import evaluate
from relbert.data.analogy import read_analogy_file
from helpers.analogy_files import known_answer_questions, write_jsonl


@pytest.mark.parametrize("task", ["analogy", "classification", "mapping"])
def test_eval_output_folder_is_checked_before_anything_runs(tmp_path, tiny_model_path, monkeypatch, task):
    from relbert.cli import evaluate

    no_model_load(monkeypatch)
    out = tmp_path / "nodir" / "r.json"
    result = CliRunner().invoke(evaluate, [task, "-o", str(out), "--model", tiny_model_path, "--data-dir",
                                           str(tmp_path)])
    assert f"the output folder {out.parent} does not exist" in one_error_line(result)


def test_mapping_report_has_no_split_and_eval_help_names_mapping():
    from relbert.cli import evaluate
    from relbert.evaluation.report import table

    report = {"task": "mapping", "split": None, "model": "m", "datasets": {}}
    assert table(report).splitlines()[0].startswith("mapping — ")
    assert "relation mapping" in CliRunner().invoke(evaluate, ["--help"]).output
    assert "memory-mapped" not in CliRunner().invoke(embed, ["--help"]).output


@pytest.mark.parametrize("reader", ["analogy", "mapping"])
def test_a_dataset_name_without_a_data_folder_names_data_dir(reader):
    from relbert.data.analogy import resolve_analogy
    from relbert.data.mapping import resolve_mapping

    with pytest.raises(FileNotFoundError) as info:
        if reader == "mapping":
            resolve_mapping("relation_mapping", None)
        else:
            resolve_analogy("u2", "test", None)
    assert "--data-dir" in str(info.value) and "RELBERT_DATA" in str(info.value)


def test_a_data_dir_without_the_task_folder_is_one_line(tmp_path):
    from relbert.cli import evaluate

    (tmp_path / "data").mkdir()
    result = CliRunner().invoke(evaluate, ["analogy", "--data-dir", str(tmp_path / "data"), "-q"])
    assert "no datasets" in one_error_line(result)


def test_dataset_names_match_in_any_case(fixture_data):
    from relbert.data.analogy import resolve_analogy
    from relbert.data.lexical import resolve_lexical

    assert resolve_analogy("U2", "test", fixture_data).questions == resolve_analogy("u2", "test", fixture_data).questions
    name, splits = resolve_lexical("bless", fixture_data)
    assert name == "BLESS" and "train" in splits


def test_compare_labels_each_column_with_its_split():
    from relbert.evaluation.report import compare

    base = {"task": "analogy", "model": "m", "template": "a", "datasets": {"u2": {"accuracy": 40.0}}}
    header = compare([{**base, "split": "valid"}, {**base, "split": "test"}]).splitlines()[0]
    assert "— valid" in header and "— test" in header


def test_cli_analogy_report_and_compare(tmp_path, default_model):
    data = write_jsonl(tmp_path / "known.jsonl", known_answer_questions())
    runner = CliRunner()
    a = runner.invoke(evaluate, ["analogy", "-d", str(data), "-o", str(tmp_path / "a.json"), "-q"])
    assert a.exit_code == 0, a.output
    b = runner.invoke(evaluate, ["analogy", "-d", str(data), "--baseline", "diff", "-o", str(tmp_path / "b.json"), "-q"])
    assert b.exit_code == 0, b.output
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["task"] == "analogy" and report["aggregation"] == default_model.aggregation
    assert report["template"] == default_model.template and report["datasets"]["known"]["accuracy"] == 100.0
    assert "known" in a.output and "100.0" in a.output
    diff = json.loads((tmp_path / "b.json").read_text())
    assert diff["baseline"] == "diff"
    c = runner.invoke(evaluate, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert c.exit_code == 0
    lines = c.output.strip().splitlines()
    assert lines[0].startswith("| dataset |") and "(diff)" in lines[0] and lines[2].startswith("| known | 100.0 |")


def test_cli_validation_is_the_trainers_score(tmp_path, fixture_data, default_model):
    """relbert-eval validation: each set's accuracy recomputed with numpy from RelBERT.embed, and
    the mean and the question-weighted mean computed by hand."""
    from relbert import training
    from relbert.cli import evaluate_command as cli
    from relbert.data.semeval import load_semeval, semeval_validation_questions

    assert cli.SELECTIONS == training.SELECTIONS  # the CLI's spelling of the trainer's rules
    out = tmp_path / "v.json"
    result = CliRunner().invoke(evaluate, ["validation", "--validation", "semeval,u2,google", "--selection", "weighted",
                                           "--data-dir", str(fixture_data), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    datasets = {
        "semeval/valid": semeval_validation_questions(load_semeval(fixture_data / "semeval2012_task2")[1]),
        "u2/valid": read_analogy_file(fixture_data / "analogy" / "u2" / "valid.jsonl"),
        "google/valid": read_analogy_file(fixture_data / "analogy" / "google" / "valid.jsonl"),
    }
    assert list(report["datasets"]) == list(datasets)
    accuracy, sizes = {}, {}
    for name, dataset in datasets.items():
        correct = []
        for q in dataset.questions:
            v = default_model.embed([q.stem, *q.choice])
            correct.append(int(np.argmax(v[1:] @ v[0])) == q.answer)
        accuracy[name], sizes[name] = 100.0 * np.mean(correct), len(correct)
        assert report["datasets"][name]["n_questions"] == sizes[name]
        assert report["datasets"][name]["accuracy"] == pytest.approx(accuracy[name])
    assert len(set(sizes.values())) > 1  # otherwise weighted == mean and the check below proves nothing
    weighted = sum(accuracy[n] * sizes[n] for n in sizes) / sum(sizes.values())
    assert report["weighted"] == pytest.approx(weighted)
    assert report["mean"] == pytest.approx(np.mean(list(accuracy.values())))
    total = sum(sizes.values())
    se = 100 * np.sqrt(sum((sizes[n] / total) ** 2 * (accuracy[n] / 100) * (1 - accuracy[n] / 100) / sizes[n]
                           for n in sizes))
    assert report["selection"] == {"rule": "weighted", "score": pytest.approx(weighted), "se": pytest.approx(se)}
    assert f"{weighted:.1f}" in result.output
    missing = CliRunner().invoke(evaluate, ["validation", "--validation", "u2,nosuchset", "--data-dir", str(fixture_data)])
    assert missing.exit_code != 0 and "nosuchset" in missing.output


def test_compare_tells_two_trained_runs_apart(tmp_path):
    """Two runs' models are both called .../model: the columns show enough of the path to differ,
    then the offset weight."""
    import json

    from relbert.cli import evaluate

    base = {"task": "analogy", "template": "d", "aggregation": "mask", "split": "valid",
            "datasets": {"u2": {"accuracy": 40.0, "n_questions": 24}}, "average": 40.0}
    paths = []
    for i, (model, weight) in enumerate([("/x/run1/model", 0.3), ("/x/run2/model", 0.3), ("relbert-minilm", 0.0),
                                         ("relbert-minilm", 0.3)]):
        path = tmp_path / f"r{i}.json"
        path.write_text(json.dumps({**base, "model": model, "offset_weight": weight}))
        paths.append(str(path))
    result = CliRunner().invoke(evaluate, ["compare", *paths])
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0]
    columns = [c.strip() for c in header.strip("|").split("|")][1:]
    assert len(set(columns)) == 4, columns
    assert columns[0].startswith("run1/model") and columns[1].startswith("run2/model")
    assert "offset_weight=0.0" in columns[2] and "offset_weight=0.3" in columns[3]


def test_a_users_file_is_named_and_scored_per_relation(tmp_path, default_model):
    """relbert-eval analogy on a user's file: no benchmark split in the header, the file's own
    name on its row, the model column naming the folder (run/model), and a per-relation table
    (on by default for a user's file; --no-per-relation turns it off) whose counts add up."""
    import shutil
    from pathlib import Path

    from click.testing import CliRunner

    from relbert.cli import evaluate

    questions = Path(__file__).resolve().parents[1] / "fixtures" / "analogy.jsonl"
    own = tmp_path / "own.jsonl"
    shutil.copy(questions, own)
    default_model.save_pretrained(tmp_path / "run" / "model")
    result = CliRunner().invoke(evaluate, ["analogy", "--dataset", str(own), "--model", str(tmp_path / "run" / "model"),
                                           "-q"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("analogy — run/model [") and "(test)" not in lines[0]
    assert lines[2].split()[0] == "own.jsonl"
    start = lines.index("own.jsonl: per relation")
    rows = [line.split() for line in lines[start + 2:]]
    prefixes = [json.loads(line)["prefix"] for line in questions.read_text().splitlines()]
    assert {r[0]: int(r[1]) for r in rows} == {p: prefixes.count(p) for p in set(prefixes)}
    quiet = CliRunner().invoke(evaluate, ["analogy", "--dataset", str(own), "--no-per-relation", "-q"])
    assert quiet.exit_code == 0 and "per relation" not in quiet.output
