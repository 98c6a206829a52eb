"""A model folder that is wrong in any way is one line (exit status 2 through the CLI, a
ModelFolderError through the API), checked before the cache and the hub; never a huggingface or
safetensors traceback."""
from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from relbert import RelBERT
from relbert.cli import embed as embed_cmd
from relbert.errors import ModelFolderError, UserError

from helpers.cli_checks import one_error_line
from helpers.tiny_model import build_tiny_bert


def truncated(folder: Path, keep: int):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:keep])


def edit_config(folder: Path, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def header_length(folder: Path) -> int:
    return struct.unpack("<Q", (folder / "model.safetensors").read_bytes()[:8])[0]


#: case -> (how to break a good folder, words the one line must hold)
CASES = {
    "missing": (lambda f: shutil.rmtree(f), "no such folder"),
    "empty": (lambda f: [p.unlink() for p in f.iterdir()], "empty"),
    "no config": (lambda f: (f / "config.json").unlink(), "no config.json"),
    "no weights": (lambda f: (f / "model.safetensors").unlink(), "no weights"),
    "no tokenizer": (lambda f: [p.unlink() for p in f.iterdir() if p.name not in ("config.json", "model.safetensors")],
                     "no tokenizer files"),
    "config not JSON": (lambda f: (f / "config.json").write_text('{"model_type": "bert",'), "config.json is not valid JSON"),
    "config a list": (lambda f: (f / "config.json").write_text("[1, 2]"), "must hold a JSON object"),
    "model_type a number": (lambda f: edit_config(f, model_type=5), "no model_type string"),
    "model_type unknown": (lambda f: edit_config(f, model_type="bertt"), "does not know"),
    "hidden_size a string": (lambda f: edit_config(f, hidden_size="big"), "config.json"),
    "hidden_size that does not fit the weights": (lambda f: edit_config(f, hidden_size=64, num_attention_heads=4),
                                                  "model folder"),
    "weights of 5 bytes": (lambda f: truncated(f, 5), "model.safetensors is not a safetensors file (header too small"),
    "weights cut in the header": (lambda f: truncated(f, 100), "model.safetensors is not a safetensors file (header too small"),
    "weights cut in the tensors": (lambda f: truncated(f, 8 + header_length(f) + 64), "model.safetensors is truncated"),
    "tokenizer.json broken": (lambda f: (f / "tokenizer.json").write_text("{"), "tokenizer"),
}


@pytest.fixture(scope="module")
def good_folder(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("good") / "model")


@pytest.fixture(params=sorted(CASES))
def broken(request, good_folder, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(good_folder, folder)
    if not (folder / "tokenizer.json").exists() and request.param == "tokenizer.json broken":
        pytest.skip("the tiny model has no tokenizer.json")
    breaker, words = CASES[request.param]
    breaker(folder)
    return folder, words


def test_the_good_folder_loads(good_folder):
    assert RelBERT.from_pretrained(str(good_folder), device="cpu").embed([("a", "b")]).shape[0] == 1


def test_api_one_line(broken):
    folder, words = broken
    with pytest.raises(ModelFolderError) as caught:
        RelBERT.from_pretrained(str(folder), device="cpu")
    message = str(caught.value)
    assert isinstance(caught.value, UserError) and "\n" not in message
    assert str(folder) in message and words in message, message


def test_cli_one_line(broken, tmp_path):
    folder, words = broken
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("paris\tfrance\n")
    result = CliRunner().invoke(embed_cmd, [str(pairs), "-o", str(tmp_path / "out.npy"), "--model", str(folder)])
    line = one_error_line(result)
    assert str(folder) in line and words in line, line
    assert not (tmp_path / "out.npy").exists()


def test_a_missing_folder_is_named_before_the_hub(tmp_path, monkeypatch):
    """``run/model`` with ``run/`` there but not ``model``: a folder, so no cache or hub look-up."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()

    def no_hub(*args, **kwargs):
        raise AssertionError("the hub was asked")

    monkeypatch.setattr("relbert.models.loading.check_hub_reachable", no_hub)
    with pytest.raises(ModelFolderError, match="model folder run/model: no such folder"):
        RelBERT.from_pretrained("run/model", device="cpu")
    with pytest.raises(ModelFolderError, match="no such folder"):
        RelBERT.from_pretrained(os.path.join(".", "nowhere"), device="cpu")
