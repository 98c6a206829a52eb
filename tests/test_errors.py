"""Errors name the real cause: missing folders, malformed input before the model loads, a missing
C++ build, missing validation sets."""
from __future__ import annotations

import warnings

import pytest
from click.testing import CliRunner

from helpers.cli_checks import one_error_line
from relbert.cli import embed, evaluate, train


@pytest.mark.parametrize("command, args", [
    (evaluate, ["analogy", "--dataset", "u2"]),
    (evaluate, ["classification", "--dataset", "BLESS"]),
    (evaluate, ["mapping"]),
    (train, ["-o", "OUT", "--epochs", "1"]),
])
def test_a_missing_data_dir_is_an_error_not_a_fallback(tmp_path, tiny_model_path, command, args):
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    result = CliRunner().invoke(command, args + ["--data-dir", str(tmp_path / "nowhere"), "--model", tiny_model_path])
    assert str(tmp_path / "nowhere") in one_error_line(result)


def test_a_missing_validation_set_is_an_error(tmp_path, tiny_model_path, eval_data):
    result = CliRunner().invoke(train, ["-o", str(tmp_path / "out"), "--model", tiny_model_path, "--epochs", "1",
                                        "--data-dir", str(eval_data), "--validation", "u2,no_such_set"])
    line = one_error_line(result)
    assert "no_such_set" in line and not (tmp_path / "out" / "model").exists()


def test_bad_input_and_output_folder_are_reported_before_the_model_loads(tmp_path, tiny_model_path, monkeypatch):
    from relbert.models import parts

    def no_load(*args, **kwargs):
        raise AssertionError("the encoder was loaded before the input was checked")

    monkeypatch.setattr(parts, "load_encoder", no_load)
    bad = tmp_path / "bad.tsv"
    bad.write_text("paris\tfrance\nonly-one-field\n", encoding="utf-8")
    result = CliRunner().invoke(embed, [str(bad), "-o", str(tmp_path / "o.npy"), "--model", tiny_model_path, "-q"])
    assert one_error_line(result) == f"error: {bad}:2: expected 2 tab-separated fields (head<TAB>tail), found one field"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tsv"]  # no work files left
    missing = tmp_path / "no" / "o.npy"
    result = CliRunner().invoke(embed, [str(bad), "-o", str(missing), "--model", tiny_model_path, "-q"])
    assert f"the output folder {missing.parent} does not exist" in one_error_line(result)


def test_a_missing_cpp_build_warns_once_with_the_fix(minilm_path, monkeypatch):
    from relbert.tokenization import compiled
    from relbert.tokenization import PairTokenizer

    monkeypatch.setattr(compiled, "compiled_module", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tok = PairTokenizer.from_pretrained(minilm_path)
    messages = [str(w.message) for w in caught if "relbert._C" in str(w.message)]
    assert tok.implementation == "python" and len(messages) == 1
    assert "was not built" in messages[0] and "pip install" in messages[0]
