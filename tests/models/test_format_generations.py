"""What 0.1, 0.2 and main before the structure change (d935dce) wrote still loads: a model folder, an
embedded collection with its provenance (and, from main on, its index), a training run folder (resumed,
and extended by an epoch) and a classifier folder,
each made by that release's own code (tests/fixtures/make_generations.py). A record key this
version does not know warns once and is ignored."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relbert import RelBERT
from relbert.errors import NewerFormatWarning

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "generations"
PLACE = Path("/tmp/relbert-generations")  # where make_generations.py made them (records hold absolute paths)
GENERATIONS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@pytest.fixture(params=GENERATIONS)
def generation(request) -> Path:
    place = PLACE / request.param
    shutil.rmtree(place, ignore_errors=True)
    shutil.copytree(FIXTURES / request.param, place)
    yield place
    shutil.rmtree(place, ignore_errors=True)


def test_both_generations_are_there():
    assert {"0.1", "0.2", "main-d935dce"} <= set(GENERATIONS)


def test_an_index_the_release_built_still_searches(generation):
    """The index and its record of the collection (relbert-index) read by this version: the same
    neighbours as the exact search."""
    from relbert.cli import search

    if not (generation / "collection.flat").is_file():
        pytest.skip(f"{generation.name} predates relbert-index in the fixtures")
    pytest.importorskip("faiss")
    args = [str(generation / "collection.npy"), "-p", str(generation / "pairs.tsv"), "-Q", "paris\tfrance", "-k", "5"]
    exact = CliRunner().invoke(search, args)
    indexed = CliRunner().invoke(search, args + ["--index", str(generation / "collection.flat")])
    assert exact.exit_code == 0 and indexed.exit_code == 0, indexed.output
    hits = [[line.split("\t")[3:] for line in r.output.splitlines() if line.count("\t") == 4] for r in (exact, indexed)]
    assert len(hits[0]) == 5 and hits[0] == hits[1]


def test_model_folder_loads_with_its_settings_and_vectors(generation):
    with warnings.catch_warnings():
        warnings.simplefilter("error", NewerFormatWarning)
        model = RelBERT.from_pretrained(str(generation / "model"), device="cpu", precision="fp32")
    assert (model.template.endswith("<subj> is the <mask> of <obj>"), model.aggregation, model.offset_weight) == \
        (True, "mask", 0.3)
    from relbert.io import read_pairs

    pairs = read_pairs(generation / "pairs.tsv")
    # the vectors this version computes are the ones the release wrote
    np.testing.assert_allclose(model.embed(pairs), np.load(generation / "collection.npy"), atol=2e-5)


def test_collection_is_searched_with_its_provenance(generation):
    from relbert.cli import search
    from relbert.embedding import provenance

    with warnings.catch_warnings():
        warnings.simplefilter("error", NewerFormatWarning)
        record = provenance.read(generation / "collection.npy")
    assert record["offset_weight"] == 0.3 and record["rows"] == 38
    result = CliRunner().invoke(search, [str(generation / "collection.npy"), "-p", str(generation / "pairs.tsv"),
                                         "-Q", "paris\tfrance", "-k", "3"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.output.splitlines() if line.count("\t") == 4]
    assert len(rows) == 3 and all(r[0] == "paris:france" for r in rows)
    assert [float(r[2]) for r in rows] == sorted((float(r[2]) for r in rows), reverse=True)


def test_run_folder_resumes_and_extends(generation, monkeypatch):
    from relbert.cli import train

    monkeypatch.chdir(generation)
    stored = json.loads((generation / "run" / "training_config.json").read_text())
    options = ["-o", "run", "--data", stored["data"], "--model", stored["model"], "--num-negative", "4",
               "--num-positive", "4", "--precision", "fp32", "-q"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NewerFormatWarning)
        result = CliRunner().invoke(train, [*options, "--resume", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads((generation / "run" / "state" / "state.json").read_text())["progress"]["epoch"] == 2
    RelBERT.from_pretrained(str(generation / "run" / "model"), device="cpu")


def test_classifier_predicts(generation, tmp_path):
    from relbert.cli import classify

    out = tmp_path / "labels.tsv"
    with warnings.catch_warnings():
        warnings.simplefilter("error", NewerFormatWarning)
        result = CliRunner().invoke(classify, ["predict", str(generation / "classifier"), str(generation / "pairs.tsv"),
                                               "-o", str(out), "--precision", "fp32", "-q"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    labels = set(json.loads((generation / "classifier" / "classifier.json").read_text())["labels"])
    assert len(rows) == 38 and {r[2] for r in rows} <= labels
    assert all(0 < float(r[3]) <= 1 for r in rows)


# --- a key a newer version wrote ------------------------------------------------------
def add_key(file: Path, **extra):
    record = json.loads(file.read_text())
    record.update(extra)
    file.write_text(json.dumps(record))


def test_newer_keys_warn_once_and_are_ignored(tmp_path, monkeypatch):
    from relbert import io
    from relbert.evaluation.classifier import SavedClassifier
    from relbert.embedding import provenance

    monkeypatch.setattr(io, "_WARNED_KEYS", set())
    place = PLACE / "newer"
    shutil.rmtree(place, ignore_errors=True)
    shutil.copytree(FIXTURES / GENERATIONS[-1], place)
    try:
        add_key(place / "collection.npy.provenance.json", future_field=1)
        add_key(place / "classifier" / "classifier.json", calibration="isotonic")
        with pytest.warns(NewerFormatWarning, match="future_field") as caught:
            assert provenance.read(place / "collection.npy")["rows"] == 38
            provenance.read(place / "collection.npy")  # the same record again: no second warning
        assert len([w for w in caught if issubclass(w.category, NewerFormatWarning)]) == 1
        with pytest.warns(NewerFormatWarning, match="calibration"):
            saved, _ = SavedClassifier.load(place / "classifier")
        assert saved.labels

        add_key(place / "run" / "training_config.json", curriculum="easy-first")
        from relbert.cli import train

        monkeypatch.chdir(place)
        stored = json.loads((place / "run" / "training_config.json").read_text())
        with pytest.warns(NewerFormatWarning, match="curriculum"):
            result = CliRunner().invoke(train, ["-o", "run", "--data", stored["data"], "--model", stored["model"],
                                                "--num-negative", "4", "--num-positive", "4", "--precision", "fp32",
                                                "-q", "--resume", "--epochs", "2"])
        assert result.exit_code == 0, result.output
    finally:
        shutil.rmtree(place, ignore_errors=True)


# --- the model card ---------------------------------------------------------------------
def test_saved_and_trained_folders_carry_a_model_card_that_loading_ignores(tmp_path):
    from relbert.cli import train

    model = RelBERT.from_pretrained(str(FIXTURES / "0.2" / "model"), device="cpu", precision="fp32")
    model.save_pretrained(tmp_path / "saved")
    card = (tmp_path / "saved" / "README.md").read_text()
    assert f"| aggregation | `{model.aggregation}` |" in card and f"| vector width | {model.dimension} |" in card
    assert "| offset weight λ | 0.3 " in card and "RelBERT.from_pretrained" in card
    again = RelBERT.from_pretrained(str(tmp_path / "saved"), device="cpu", precision="fp32")
    np.testing.assert_array_equal(again.embed([("a", "b")]), model.embed([("a", "b")]))

    shutil.copytree(FIXTURES / "0.2", tmp_path / "gen")
    out = tmp_path / "gen" / "run2"
    result = CliRunner().invoke(train, ["-o", str(out), "--data", str(tmp_path / "gen" / "own_relations.jsonl"),
                                        "--model", str(tmp_path / "gen" / "base"), "--epochs", "1", "--num-negative",
                                        "4", "--num-positive", "4", "--precision", "fp32", "-q"])
    assert result.exit_code == 0, result.output
    card = (out / "model" / "README.md").read_text()
    stored = json.loads((out / "model" / "training_config.json").read_text())
    assert "| loss | `nce` |" in card and f"| base encoder | `{tmp_path / 'gen' / 'base'}` |" in card
    chosen = stored.get("offset_choice", {}).get("offset_weight", 0.0)
    assert f"| offset weight λ | {chosen:g} " in card
    assert all(f"| {name} | {score:.2f} |" in card for name, score in stored["validation"].items())
