"""Fault injection through the commands: every case of the fault campaign (damaged state and
classifier files, NaN and out-of-range numbers, contradicting formats, concurrent runs, Ctrl-C,
words the model cannot read) ends in one line with a non-zero exit, or in a correct output,
and never in a traceback or a file holding NaN or the wrong format.

The material is the 0.2 generation's tiny model, run, classifier and collection
(tests/fixtures/generations), copied to where its records say it lives."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relbert.cli import classify, embed, evaluate, index, plot, search, train

from helpers.cli_checks import one_error_line

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "generations" / "0.2"


@pytest.fixture
def material(monkeypatch, tmp_path_factory):
    """A copy of the generation, the working folder (its records' relative names resolve there)."""
    place = tmp_path_factory.mktemp("material") / "gen"
    shutil.copytree(FIXTURE, place)
    monkeypatch.chdir(place)
    return place


def run(command, args):
    return CliRunner().invoke(command, [str(a) for a in args])


def option_refused(result, option):
    """click's refusal of a bad option value: exit 2, naming the option, no traceback."""
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output, result.output
    assert "Traceback" not in result.output


def train_args(**extra):
    stored = json.loads((Path("run") / "training_config.json").read_text())
    args = ["-o", "run", "--data", stored["data"], "--model", stored["model"], "--num-negative", "4",
            "--num-positive", "4", "--precision", "fp32", "-q", "--epochs", "1"]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}"] + ([] if value is True else [value])
    return args


# --- damaged run state on --resume ---------------------------------------------------------
@pytest.mark.parametrize("damage", ["state.json truncated", "state.json {}", "state safetensors truncated",
                                    "training_config.json not JSON"])
def test_damaged_run_state_is_named(material, damage):
    args = train_args(resume=True, epochs=2)
    state = material / "run" / "state"
    if damage == "state.json truncated":
        (state / "state.json").write_text((state / "state.json").read_text()[:40])
    elif damage == "state.json {}":
        (state / "state.json").write_text("{}")
    elif damage == "state safetensors truncated":
        data = (state / "optimizer.safetensors").read_bytes()
        (state / "optimizer.safetensors").write_bytes(data[:100])
    else:
        (material / "run" / "training_config.json").write_text("{")
    line = one_error_line(run(train, args))
    assert "--resume" in line and "--overwrite" in line and "damaged" in line, line


def test_a_run_killed_before_its_first_state_resumes_from_the_start(material):
    shutil.rmtree(material / "run" / "state")
    line = one_error_line(run(train, train_args()))
    assert "saved no state yet" in line and "--resume" in line and "--overwrite" in line
    result = run(train, train_args(resume=True))  # what the line says works
    assert result.exit_code == 0, result.output
    assert (material / "run" / "state" / "state.json").is_file()


def test_ctrl_c_in_training_says_what_was_kept(material, monkeypatch):
    from relbert.training.trainer import Trainer

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "train", interrupted)
    result = run(train, train_args(resume=True, epochs=2))
    assert result.exit_code == 130, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("error: interrupted") and "after epoch 1" in line and "--resume" in line


@pytest.mark.parametrize("option, value", [("--lr", "nan"), ("--lr", "inf"), ("--temperature", "nan"),
                                           ("--memory-budget", "nan"), ("--memory-budget", "inf"), ("--seed", "-1"),
                                           ("--seed", str(2**32))])
def test_training_numbers_are_checked(material, option, value):
    option_refused(run(train, [*train_args(), "--overwrite", option, value]), option)


def test_a_non_finite_loss_stops_before_the_step(monkeypatch):
    from relbert.errors import NonFiniteError
    from relbert.training.config import TrainConfig
    from relbert.training.trainer import check_finite_loss

    check_finite_loss(1.5, 0, 0, TrainConfig())
    with pytest.raises(NonFiniteError, match=r"epoch 2, step 4: the loss is nan .*--lr .*--temperature"):
        check_finite_loss(float("nan"), 1, 3, TrainConfig())


# --- classifier folders --------------------------------------------------------------------
def damage_classifier(folder: Path, damage: str):
    from safetensors.numpy import load_file, save_file

    record = json.loads((folder / "classifier.json").read_text())
    if damage == "weights truncated":
        data = (folder / "classifier.safetensors").read_bytes()
        (folder / "classifier.safetensors").write_bytes(data[: len(data) // 3])
    elif damage == "fewer labels than outputs":
        record["labels"] = record["labels"][:-1]
    elif damage == "unknown activation":
        record["activation"] = "swish"
    elif damage == "NaN weights":
        tensors = load_file(str(folder / "classifier.safetensors"))
        tensors["weight.0"][0, 0] = np.nan
        save_file(tensors, str(folder / "classifier.safetensors"))
    (folder / "classifier.json").write_text(json.dumps(record))


@pytest.mark.parametrize("damage", ["weights truncated", "fewer labels than outputs", "unknown activation",
                                    "NaN weights"])
def test_damaged_classifier_is_named(material, damage, tmp_path):
    damage_classifier(material / "classifier", damage)
    out = tmp_path / "labels.tsv"
    line = one_error_line(run(classify, ["predict", "classifier", "pairs.tsv", "-o", out, "-q"]))
    assert "classifier" in line and "relbert-classify fit" in line, line
    assert not out.exists()


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_classifier_and_plot_seeds_are_checked(material, seed):
    option_refused(run(classify, ["fit", "labelled.tsv", "-o", "c2", "--model", "model", "--seed", seed]), "--seed")
    option_refused(run(plot, ["collection.npy", "-p", "pairs.tsv", "-o", "map.html", "--seed", seed]), "--seed")


def test_a_validation_label_absent_from_training_is_refused(material):
    (material / "val.tsv").write_text("paris\tfrance\tcapital-of\ndog\tbark\tsound-of-a-ghost\n")
    line = one_error_line(run(classify, ["fit", "labelled.tsv", "-o", "c2", "--model", "model", "--validation",
                                         "val.tsv", "-q"]))
    assert "sound-of-a-ghost" in line and "never appears" in line


# --- numbers on embed, search, eval, classify, index ----------------------------------------
@pytest.mark.parametrize("value", ["inf", "nan", "1e308", "-1"])
def test_offset_weight_is_checked_everywhere(material, value, tmp_path):
    (tmp_path / "q.jsonl").write_text((Path(__file__).resolve().parents[1] / "fixtures" / "analogy.jsonl").read_text())
    option_refused(run(embed, ["pairs.tsv", "-o", tmp_path / "o.npy", "--offset-weight", value]), "--offset-weight")
    option_refused(run(search, ["collection.npy", "-p", "pairs.tsv", "-Q", "paris\tfrance", "--offset-weight", value]),
                   "--offset-weight")
    option_refused(run(evaluate, ["analogy", "--dataset", tmp_path / "q.jsonl", "--offset-weight", value]),
                   "--offset-weight")
    option_refused(run(classify, ["fit", "labelled.tsv", "-o", "c2", "--offset-weight", value]), "--offset-weight")
    assert not (tmp_path / "o.npy").exists()


def test_offset_weight_in_the_api(minilm):
    from relbert.errors import OptionError
    from relbert.offsets import check_offset_weight

    assert check_offset_weight(1e6) == 1e6
    for bad in (float("inf"), float("nan"), 1e308, -1):
        with pytest.raises(OptionError):
            check_offset_weight(bad)


def test_max_length_over_the_encoders_positions(material, tmp_path):
    line = one_error_line(run(embed, ["pairs.tsv", "-o", tmp_path / "o.npy", "--model", "model", "--max-length",
                                      "100000"]))
    assert "max_length 100000" in line and "positions" in line
    assert not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize("args, words", [(["--kind", "hnsw", "--hnsw-m", "100000000"], "Invalid value for '--hnsw-m'"),
                                         (["--train-size", "1", "--nlist", "2", "--nbits", "4"], "--train-size 1"),
                                         (["--nbits", "4", "--nlist", "2"], None)])
def test_index_parameters(material, tmp_path, args, words):
    pytest.importorskip("faiss")
    big = tmp_path / "big.npy"  # 40 unit rows: ivfpq with 2^4 codes trains on 16
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((40, 64)).astype(np.float32)
    np.save(big, rows / np.linalg.norm(rows, axis=1, keepdims=True))
    result = run(index, [big, "-o", tmp_path / "i.index", "-q", *args])
    if words is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "i.index").exists()


def test_index_on_a_full_disk_and_ctrl_c(material, tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    from relbert.search import index as ann

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ann, "save_index", full)
    line = one_error_line(run(index, ["collection.npy", "-o", tmp_path / "i.index", "--kind", "flat", "-q"]))
    assert "No space left on device" in line and "no index was written" in line

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ann, "build_index", stop)
    result = run(index, ["collection.npy", "-o", tmp_path / "i.index", "--kind", "flat", "-q"])
    assert result.exit_code == 130 and "nothing was written" in result.output.strip().splitlines()[-1]
    assert not (tmp_path / "i.index").exists()


# --- NaN never searched, indexed, plotted --------------------------------------------------
def test_a_collection_with_a_nan_row_is_refused_naming_the_row(material, tmp_path):
    vectors = np.load(material / "collection.npy")
    vectors[7, 3] = np.nan
    np.save(material / "collection.npy", vectors)
    for command, args in ((search, ["collection.npy", "-p", "pairs.tsv", "-Q", "paris\tfrance"]),
                          (plot, ["collection.npy", "-p", "pairs.tsv", "-o", tmp_path / "map.html"]),
                          (index, ["collection.npy", "-o", tmp_path / "i.index", "--kind", "flat"])):
        if command is index:
            pytest.importorskip("faiss")
        line = one_error_line(run(command, args))
        assert "row 7 (line 8" in line and "non-finite" in line, line
    assert not (tmp_path / "map.html").exists() and not (tmp_path / "i.index").exists()


def test_a_damaged_provenance_is_named(material, tmp_path):
    (material / "collection.npy.provenance.json").write_text("{not json")
    for command, args in ((search, ["collection.npy", "-p", "pairs.tsv", "-Q", "paris\tfrance"]),
                          (plot, ["collection.npy", "-p", "pairs.tsv", "-o", tmp_path / "map.html"])):
        line = one_error_line(run(command, args))
        assert "provenance record is damaged" in line, line


def test_one_pair_maps_without_a_warning(material, tmp_path):
    (material / "one.tsv").write_text("paris\tfrance\n")
    assert run(embed, ["one.tsv", "-o", "one.npy", "--model", "model", "-q"]).exit_code == 0
    proc = subprocess.run([sys.executable, "-c", "from relbert.cli import plot; plot()", "one.npy", "-p", "one.tsv",
                           "-o", str(tmp_path / "map.html")], cwd=material, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr


# --- formats match their names ------------------------------------------------------------
def test_the_format_follows_the_extension(material, tmp_path):
    assert run(embed, ["pairs.tsv", "-o", tmp_path / "o.npz", "--model", "model", "-q"]).exit_code == 0
    with np.load(tmp_path / "o.npz") as data:
        assert data["vectors"].shape[0] == 38 and data["pairs"].shape == (38, 2)
        width = data["vectors"].shape[1]
    assert run(embed, ["pairs.tsv", "-o", tmp_path / "o.txt", "--model", "model", "-q"]).exit_code == 0
    assert (tmp_path / "o.txt").read_text().split("\n", 1)[0].split() == ["38", str(width)]
    for name, fmt in (("x.npy", "word2vec"), ("x.npz", "npy"), ("x.txt", "npz")):
        line = one_error_line(run(embed, ["pairs.tsv", "-o", tmp_path / name, "--format", fmt, "--model", "model"]))
        assert f"--format {fmt}" in line
        assert not (tmp_path / name).exists()
    line = one_error_line(run(embed, ["pairs.tsv", "-o", tmp_path / "x.bin", "--model", "model"]))
    assert "does not say the format" in line


# --- concurrent runs and Ctrl-C -------------------------------------------------------------
def test_a_second_run_on_the_same_output_is_refused_and_a_stale_lock_taken_over(material, tmp_path):
    from relbert.lock import lock_path

    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket

        out = tmp_path / "same.npy"
        lock_path(out).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                                              "started": "now", "command": "relbert-embed big.tsv -o same.npy"}))
        line = one_error_line(run(embed, ["pairs.tsv", "-o", out, "--model", "model"]))
        assert f"pid {holder.pid}" in line and "another run" in line
        assert lock_path(out).is_file() and not out.exists()
    finally:
        holder.kill()
        holder.wait()
    result = run(embed, ["pairs.tsv", "-o", out, "--model", "model", "-q"])  # the holder is gone: stale
    assert result.exit_code == 0, result.output
    assert out.is_file() and not lock_path(out).exists()


def test_ctrl_c_in_embedding_exits_130(material, tmp_path, monkeypatch):
    from relbert.embedding.run import EmbedRun

    def stop(self, model):
        raise KeyboardInterrupt

    monkeypatch.setattr(EmbedRun, "embed", stop)
    result = run(embed, ["pairs.tsv", "-o", tmp_path / "o.npy", "--model", "model"])
    assert result.exit_code == 130 and result.output.strip().splitlines()[-1].startswith("error: interrupted")
    assert not any(p.name.startswith(".o.npy") and not p.name.endswith(".lock") for p in tmp_path.iterdir())


# --- words the model cannot read ------------------------------------------------------------
def test_unreadable_words_are_counted_and_strict_stops(tmp_path, minilm):
    pairs = tmp_path / "p.tsv"
    pairs.write_text("dog\tbark\n🐶\t🐱\n🍎\t🍌\na\x00b\tc\nparis\tfrance\n", encoding="utf-8")
    result = CliRunner().invoke(embed, [str(pairs), "-o", str(tmp_path / "o.npy"), "-q"])
    assert result.exit_code == 0, result.output
    note = [line for line in result.output.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and note[0].startswith("note: 3 pairs hold a word the model cannot read")
    assert f"{pairs}:2" in note[0] and f"{pairs}:4" in note[0] and "control character" in note[0]
    line = one_error_line(CliRunner().invoke(embed, [str(pairs), "-o", str(tmp_path / "s.npy"), "--strict"]))
    assert line.startswith(f"error: {pairs}:2: the model cannot read the word")
    assert not (tmp_path / "s.npy").exists()


def test_readable_words_give_no_note(tmp_path, default_model):
    pairs = tmp_path / "p.tsv"
    pairs.write_text("dog\tbark\nparis\tfrance\nwashing machine\tlaundry\n")
    result = CliRunner().invoke(embed, [str(pairs), "-o", str(tmp_path / "o.npy"), "-q", "--strict"])
    assert result.exit_code == 0 and "note:" not in result.output


def test_nan_vectors_never_reach_the_file(material, tmp_path, monkeypatch):
    from relbert import RelBERT

    real = RelBERT.embed_prompts

    def poisoned(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        out[2] = np.nan
        return out

    monkeypatch.setattr(RelBERT, "embed_prompts", poisoned)
    line = one_error_line(run(embed, ["pairs.tsv", "-o", tmp_path / "o.npy", "--model", "model"]))
    assert "non-finite" in line and "pairs.tsv:" in line
    assert not (tmp_path / "o.npy").exists()
    assert os.listdir(tmp_path) == []


def test_a_nan_row_among_an_indexs_candidates_is_refused(tmp_path):
    """Search through an index reads only its candidates (not the whole collection): a non-finite
    candidate row is refused naming it, in the re-ranking and in --exact alike."""
    pytest.importorskip("faiss")
    from relbert.errors import CollectionError
    from relbert.search import index as ann
    from relbert.search.exact import RelationIndex

    rng = np.random.default_rng(0)
    rows = rng.standard_normal((3000, 16)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    np.save(tmp_path / "c.npy", rows)
    (tmp_path / "p.tsv").write_text("".join(f"h{i}\tt{i}\n" for i in range(3000)))
    built, record = ann.build_index(rows, "flat", {}, None, 65536, source="c.npy")
    ann.save_index(built, record, tmp_path / "c.index")
    sampled = set(ann.sample_rows(len(rows), ann.CHECKSUM_ROWS).tolist())
    row = next(r for r in range(1200, 3000) if r not in sampled)  # a row the index's checksum does not read
    poisoned = rows.copy()
    poisoned[row, 0] = np.nan
    np.save(tmp_path / "c.npy", poisoned)
    for exact in (False, True):
        opened = RelationIndex.load(tmp_path / "c.npy", tmp_path / "p.tsv", index=tmp_path / "c.index")
        with pytest.raises(CollectionError, match=f"row {row} .*non-finite"):
            opened.search(rows[row:row + 1], 5, exact=exact)
