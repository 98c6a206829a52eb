"""relbert-train as a user types it: options, run folders, one-line mistakes."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from helpers.cli_checks import one_error_line


def test_a_second_training_run_into_the_same_folder_is_refused(tmp_path, tiny_model_path):
    import json

    from relbert.cli import train

    data = tmp_path / "rel.jsonl"
    data.write_text("".join(json.dumps({"relation_type": f"r/{k}", "positives": [[f"a{k}", f"b{k}"], [f"c{k}", f"d{k}"]]})
                            + "\n" for k in range(3)))
    args = ["-o", str(tmp_path / "run"), "--data", str(data), "--model", tiny_model_path, "-t", "a", "--epochs", "1",
            "--validation", "", "--num-negative", "2", "--precision", "fp32", "-q"]
    assert CliRunner().invoke(train, args).exit_code == 0
    line = one_error_line(CliRunner().invoke(train, args))
    assert "holds a training run already" in line and "--resume" in line and "--overwrite" in line
    assert CliRunner().invoke(train, args + ["--overwrite"]).exit_code == 0
    missing = one_error_line(CliRunner().invoke(train, ["-o", str(tmp_path / "other"), "--data", str(tmp_path / "no.jsonl")]))
    assert "no.jsonl: no such file" in missing


def test_a_run_ends_by_choosing_the_offset_weight_on_validation(tmp_path, tiny_model_path):
    """relbert-train scores the offset grid on its validation sets at the end, writes the weight
    relbert-eval choose-offset's rule picks into the saved model, and records the grid."""
    import json

    from relbert import RelBERT
    from relbert.cli import train
    from relbert.data.analogy import read_analogy_file
    from relbert.evaluation.offset_choice import best_offset_weight, keep_unless_clear, score_offset_grid

    data = tmp_path / "rel.jsonl"
    data.write_text("".join(json.dumps({"relation_type": f"r/{k}", "positives": [[f"a{k}", f"b{k}"], [f"c{k}", f"d{k}"]]})
                            + "\n" for k in range(3)))
    questions = [{"stem": ["paris", "france"], "answer": 1, "choice": [["dog", "bark"], ["rome", "italy"]]},
                 {"stem": ["dog", "bark"], "answer": 0, "choice": [["cat", "meow"], ["tokyo", "japan"]]},
                 {"stem": ["cat", "cats"], "answer": 1, "choice": [["cow", "moo"], ["dog", "dogs"]]}]
    (tmp_path / "analogy" / "toy").mkdir(parents=True)
    valid = tmp_path / "analogy" / "toy" / "valid.jsonl"
    valid.write_text("".join(json.dumps(q) + "\n" for q in questions))
    args = ["-o", str(tmp_path / "run"), "--data", str(data), "--model", tiny_model_path, "-t", "a", "--epochs", "1",
            "--validation", "toy", "--data-dir", str(tmp_path), "--num-negative", "2", "--precision", "fp32",
            "--offset-grid", "0,0.5,3"]
    result = CliRunner().invoke(train, args)
    assert result.exit_code == 0, result.output
    saved = tmp_path / "run" / "model"
    record = json.loads((saved / "training_config.json").read_text())["offset_choice"]
    model = RelBERT.from_pretrained(str(saved), device="cpu", precision="fp32", offset_weight=0)
    rows = score_offset_grid(model, {"toy/valid": read_analogy_file(valid)}, (0.0, 0.5, 3.0))
    assert [r["mean"] for r in record["grid"]] == pytest.approx([r["mean"] for r in rows])
    chosen, kept = keep_unless_clear(rows, best_offset_weight(rows, prefer=0.0), 0.0)  # no change on noise
    said = f"offset weight {chosen:g} kept (the model's own)" if kept else f"offset weight {chosen:g} chosen on validation"
    assert record["offset_weight"] == chosen and said in result.output
    assert RelBERT.from_pretrained(str(saved), device="cpu").offset_weight == chosen
    bad = one_error_line(CliRunner().invoke(train, ["-o", str(tmp_path / "r2"), "--offset-grid", "0.5,x"]))
    assert "--offset-grid" in bad


OWN = {"capital": [("paris", "france"), ("tokyo", "japan"), ("rome", "italy"), ("madrid", "spain"),
                   ("berlin", "germany"), ("lima", "peru")],
       "sound": [("dog", "bark"), ("cat", "meow"), ("cow", "moo"), ("duck", "quack"), ("lion", "roar"),
                 ("snake", "hiss")],
       "young": [("dog", "puppy"), ("cat", "kitten"), ("cow", "calf"), ("horse", "foal"), ("sheep", "lamb"),
                 ("goat", "kid")]}


def _own_file(tmp_path):
    import json

    path = tmp_path / "own.jsonl"
    path.write_text("".join(json.dumps({"relation_type": name, "positives": [list(p) for p in pairs]}) + "\n"
                            for name, pairs in OWN.items()))
    return path


def test_own_data_holds_out_pairs_and_keeps_a_better_starting_model(tmp_path, tiny_model_path):
    """--data FILE with no --validation: 20% of each relation's positives (2 of 6) are held out as
    analogy questions; a trained starting model is scored first and kept when no epoch beats it."""
    import json

    from relbert import RelBERT
    from relbert.cli import train
    from relbert.data.relsim import held_out_questions, read_relsim_file, split_held_out

    trained = tmp_path / "trained"
    RelBERT.from_pretrained(tiny_model_path, template="a", aggregation="mask").save_pretrained(trained)
    args = ["-o", str(tmp_path / "run"), "--data", str(_own_file(tmp_path)), "--model", str(trained), "--epochs", "2",
            "--num-negative", "4", "--lr", "1e-12", "--offset-grid", "0"]
    result = CliRunner().invoke(train, args)
    assert result.exit_code == 0, result.output
    assert "6 of your pairs held out (6 analogy questions over 3 relations)" in result.output
    assert f"starting from {trained}" in result.output and "epochs chosen on own/valid" in result.output
    assert "no epoch beat the starting model on validation" in result.output
    config = json.loads((tmp_path / "run" / "training_config.json").read_text())
    assert config["validation"] == ["own"] and config["start"] == str(trained) and config["recipe"] == "fast"
    # the template and pooling of the trained model are kept (not the recipe's d / mask)
    assert config["template"] == RelBERT.from_pretrained(str(trained)).template and config["aggregation"] == "mask"
    saved = json.loads((tmp_path / "run" / "model" / "training_config.json").read_text())
    assert saved["selected_epoch"] == 0
    # the split is the library's, by seed: held-out pairs are never trained on
    train_part, held = split_held_out(read_relsim_file(tmp_path / "own.jsonl"), seed=0)
    assert all(len(r.positives) == 2 for r in held) and all(len(r.positives) == 4 for r in train_part)
    assert not {p for r in held for p in r.positives} & {p for r in train_part for p in r.positives}
    assert len(held_out_questions(held).questions) == 6


def test_own_data_starts_from_the_shipped_default_and_says_so(tmp_path):
    import json

    from relbert.cli import train

    args = ["-o", str(tmp_path / "run"), "--data", str(_own_file(tmp_path)), "--epochs", "1", "--num-negative", "4",
            "--validation", "", "--offset-grid", "0"]
    result = CliRunner().invoke(train, args)
    assert result.exit_code == 0, result.output
    assert "starting from relbert-minilm (the shipped default)" in result.output
    assert "no validation: epochs compared by training loss" in result.output
    assert "(training loss " in result.output and "validation" not in result.output.splitlines()[-1]
    config = json.loads((tmp_path / "run" / "training_config.json").read_text())
    assert config["model"] == "relbert-minilm" and config["start"] == "relbert-minilm (the shipped default)"
    assert (config["template"], config["aggregation"]) == ("I wasn’t aware of this relationship, but I just read in "
                                                           "the encyclopedia that <subj> is the <mask> of <obj>", "mask")


def test_recipes_fill_the_options_not_given():
    from relbert.training.config import RECIPES, resolve_recipe

    fast = resolve_recipe("fast", {"lr": None, "epochs": 3})
    assert fast["lr"] == RECIPES["fast"]["lr"] == 2e-5 and fast["epochs"] == 3 and fast["num_negative"] == 100
    paper = resolve_recipe("paper", {}, "t", "average")
    assert paper["num_negative"] == 400 and paper["precision"] == "fp32" and (paper["template"], paper["aggregation"]) \
        == ("t", "average")


def test_no_data_folder_names_the_download_and_your_own_data(tmp_path, monkeypatch):
    from relbert.cli import train

    monkeypatch.setattr("relbert.data.paths.data_folder", lambda data_dir: None)  # a machine without any data folder
    line = one_error_line(CliRunner().invoke(train, ["-o", str(tmp_path / "run"), "--epochs", "1"]))
    assert "relbert-download data" in line and "--data FILE.jsonl" in line and "--validation ''" in line
