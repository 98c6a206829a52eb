"""relbert-embed: happy path, every bad-input case, atomic output."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relbert.cli import embed

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "pairs.tsv"


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def run(runner, *args, input=None):
    return runner.invoke(embed, [str(a) for a in args], input=input)


def test_happy_path_matches_python_api(runner, tmp_path, default_model):
    out = tmp_path / "out.npy"
    result = run(runner, EXAMPLE, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    vectors = np.load(out)
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    assert vectors.shape == (len(lines), default_model.hidden_size) and vectors.dtype == np.float32
    pairs = [tuple(line.split("\t")) for line in lines]
    from relbert import RelBERT

    auto = RelBERT.from_pretrained(device="cpu")  # both choose the precision the same way (auto)
    np.testing.assert_allclose(vectors, auto.embed(pairs), atol=1e-5)
    np.testing.assert_allclose(vectors, default_model.embed(pairs), atol=1e-5 if auto.precision == "fp32" else 3e-2)


def test_auto_precision_is_bf16_only_where_native_and_validated(runner, tmp_path, minilm_path):
    """relbert-embed and RelBERT.from_pretrained default to auto: the shipped default (bf16
    validation within 1 point) runs bf16 where the CPU has native bf16; an unvalidated model fp32."""
    from relbert import RelBERT
    from relbert.precision import native_bf16_flag

    default = RelBERT.from_pretrained(device="cpu")
    assert default.precision == ("bf16" if native_bf16_flag() else "fp32") and default.precision_reason
    plain = RelBERT.from_pretrained(minilm_path, device="cpu")  # the base encoder: no bf16 validation
    assert plain.precision == "fp32"


def test_options_and_stdin(runner, tmp_path, minilm):
    out = tmp_path / "raw.npy"
    result = run(runner, "-", "-o", out, "--no-normalize", "--template", "d", "--aggregation", "mask",
                 "--batch-size", "1", "--quiet", input="paris\tfrance\ndog\tcat\r\n")
    assert result.exit_code == 0, result.output
    vectors = np.load(out)
    assert vectors.shape == (2, minilm.hidden_size)
    assert not np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


@pytest.mark.parametrize("content, line, problem", [
    (b"paris\tfrance\ndog\n", 2, "found one field"),
    (b"paris\tfrance\tcapital\n", 1, "found 3 fields"),
    (b"paris\tfrance\n\tcat\n", 2, "empty head word"),
    (b"paris\t \n", 1, "empty tail word"),
    (b"paris\tfrance\n\ndog\tcat\n", 2, "blank line"),
    (b"paris\tfrance\ncaf\xe9\tcup\n", 2, "invalid UTF-8"),
])
def test_bad_input_names_file_and_line(runner, tmp_path, content, line, problem):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_bytes(content)
    out = tmp_path / "out.npy"
    result = run(runner, pairs, "-o", out, "--quiet")
    assert result.exit_code == 2
    assert f"{pairs}:{line}: " in result.output and problem in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [pairs]  # no temporary file left behind


def test_prompt_too_long_names_line(runner, tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("dog\tcat\n" + "very " * 40 + "long\tcat\n", encoding="utf-8")
    result = run(runner, pairs, "-o", tmp_path / "o.npy", "--quiet")
    assert result.exit_code == 2 and f"{pairs}:2: " in result.output and "max_length" in result.output


def test_error_leaves_existing_output_untouched(runner, tmp_path):
    out = tmp_path / "out.npy"
    out.write_bytes(b"precious")
    bad = tmp_path / "bad.tsv"
    bad.write_text("only-one-field\n", encoding="utf-8")
    assert run(runner, bad, "-o", out, "--quiet").exit_code == 2
    assert out.read_bytes() == b"precious"


def test_missing_model_and_input_are_one_line(runner, tmp_path):
    result = run(runner, EXAMPLE, "-o", tmp_path / "o.npy", "--model", tmp_path / "no-such-model", "--quiet")
    assert result.exit_code == 2 and "not found" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = run(runner, tmp_path / "absent.tsv", "-o", tmp_path / "o.npy")
    assert result.exit_code == 2 and "absent.tsv" in result.output
    result = run(runner, EXAMPLE, "-o", tmp_path / "o.npy", "--template", "<subj> <obj>")
    assert result.exit_code == 2 and "lacks <mask>" in result.output


def test_console_script_end_to_end(tmp_path):
    out = tmp_path / "o.npy"
    proc = subprocess.run([sys.executable, "-m", "relbert.cli", str(EXAMPLE), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert np.load(out).shape[0] == len(EXAMPLE.read_text().splitlines())
    assert "wrote" in proc.stderr
