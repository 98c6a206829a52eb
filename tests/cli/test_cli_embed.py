"""relbert-embed: happy path, every bad-input case, atomic output."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from helpers.cli_checks import no_model_load, one_error_line
from relbert.cli import embed

REPO = Path(__file__).resolve().parents[2]
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
    assert vectors.shape == (len(lines), default_model.dimension) and vectors.dtype == np.float32
    pairs = [tuple(line.split("\t")) for line in lines]
    from relbert import RelBERT

    auto = RelBERT.from_pretrained(device="cpu")  # both choose the precision the same way (auto)
    np.testing.assert_allclose(vectors, auto.embed(pairs), atol=1e-5)
    np.testing.assert_allclose(vectors, default_model.embed(pairs), atol=1e-5 if auto.precision == "fp32" else 3e-2)


def test_auto_precision_is_the_measured_faster_only_where_validated(runner, tmp_path, minilm_path):
    """relbert-embed and RelBERT.from_pretrained default to auto: the shipped default (bf16
    validation within 1 point) runs whichever of fp32 and bf16 was measured faster on this CPU
    (relbert.runtime.measured_precision); an unvalidated model fp32 without measuring."""
    import re

    from relbert import RelBERT

    default = RelBERT.from_pretrained(device="cpu")
    rates = dict(re.findall(r"(fp32|bf16) \(([\d,.]+) pairs/s\)", default.precision_reason))
    assert set(rates) == {"fp32", "bf16"}, default.precision_reason
    rates = {p: float(r.replace(",", "")) for p, r in rates.items()}
    assert default.precision == max(rates, key=rates.get)
    plain = RelBERT.from_pretrained(minilm_path, device="cpu")  # the base encoder: no bf16 validation
    assert plain.precision == "fp32" and "pairs/s" not in plain.precision_reason


def test_options_and_stdin(runner, tmp_path, minilm):
    out = tmp_path / "raw.npy"
    result = run(runner, "-", "-o", out, "--no-normalize", "--template", "d", "--aggregation", "mask",
                 "--batch-size", "1", "--quiet", input="paris\tfrance\ndog\tcat\r\n")
    assert result.exit_code == 0, result.output
    vectors = np.load(out)
    assert vectors.shape == (2, 2 * minilm.hidden_size)  # the shipped default: relation + offset vectors
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
    assert result.exit_code == 2 and "no such folder" in result.output and "Traceback" not in result.output
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


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA")
@pytest.mark.parametrize("device, says", [("cuda", "without CUDA"), ("cuda:3", "without CUDA"), ("gpu", "unknown device")])
def test_a_cuda_device_on_a_cpu_torch_is_one_line(tmp_path, good_tsv, tiny_model_path, monkeypatch, device, says):
    no_model_load(monkeypatch)
    out = tmp_path / "x.npy"
    result = CliRunner().invoke(embed, [str(good_tsv), "-o", str(out), "--model", tiny_model_path, "--device", device])
    assert says in one_error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.tsv"]


def test_an_unwritable_output_names_the_output_not_a_work_file(tmp_path, good_tsv, tiny_model_path, monkeypatch):
    no_model_load(monkeypatch)
    line = one_error_line(CliRunner().invoke(embed, [str(good_tsv), "-o", "/proc/x.npy", "--model", tiny_model_path]))
    assert line.startswith("error: /proc/x.npy: cannot write") and "plan" not in line


def test_word2vec_with_repeated_pairs_loads_in_gensim(tmp_path, tiny_model_path):
    import warnings

    gensim = pytest.importorskip("gensim")
    tsv = tmp_path / "p.tsv"
    tsv.write_text("paris\tfrance\ntokyo\tjapan\nparis\tfrance\ndog\tbark\nnatural selection\tevolution\n"
                   "natural_selection\tevolution\n", encoding="utf-8")
    out = tmp_path / "p.w2v"
    result = CliRunner().invoke(embed, [str(tsv), "-o", str(out), "--model", tiny_model_path, "--format", "word2vec"])
    assert result.exit_code == 0 and "2 repeated keys written once" in result.output, result.output
    assert out.read_text().splitlines()[0].split() == ["4", str(len(out.read_text().splitlines()[1].split()) - 1)]
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("gensim").addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            kv = gensim.models.KeyedVectors.load_word2vec_format(str(out))
            similar = kv.most_similar("paris__france", topn=3)
    finally:
        logging.getLogger("gensim").removeHandler(handler)
    assert not [r for r in records if r.levelno >= logging.WARNING], [r.getMessage() for r in records]
    assert kv.index_to_key == ["paris__france", "tokyo__japan", "dog__bark", "natural_selection__evolution"]
    assert len(similar) == 3 and all(key is not None for key, _ in similar)


def test_a_byte_order_mark_is_not_part_of_the_first_word(tmp_path, tiny_model_path):
    import numpy as np

    with_bom, plain = tmp_path / "bom.tsv", tmp_path / "plain.tsv"
    with_bom.write_bytes("\ufeffparis\tfrance\ndog\tbark\n".encode("utf-8"))
    plain.write_text("paris\tfrance\ndog\tbark\n", encoding="utf-8")
    for source in (with_bom, plain):
        result = CliRunner().invoke(embed, [str(source), "-o", str(source.with_suffix(".npz")), "--model",
                                            tiny_model_path, "--format", "npz", "-q"])
        assert result.exit_code == 0, result.output
    a, b = np.load(with_bom.with_suffix(".npz")), np.load(plain.with_suffix(".npz"))
    assert a["pairs"].tolist() == [["paris", "france"], ["dog", "bark"]]
    np.testing.assert_array_equal(a["vectors"], b["vectors"])


def test_a_misspelt_named_model_gets_did_you_mean(tmp_path, good_tsv):
    line = one_error_line(CliRunner().invoke(embed, [str(good_tsv), "-o", str(tmp_path / "x.npy"), "--model",
                                                     "relbert-mpnett"]))
    assert "did you mean 'relbert-mpnet'?" in line
    line = one_error_line(CliRunner().invoke(embed, [str(good_tsv), "-o", str(tmp_path / "x.npy"), "--model",
                                                     "relbert-minlm"]))
    assert "did you mean 'relbert-minilm'" in line and "named models: relbert-minilm, relbert-mpnet" in line


@pytest.mark.parametrize("fmt", ["npy", "npz", "word2vec"])
def test_outputs_take_the_users_umask(tmp_path, good_tsv, tiny_model_path, fmt):
    import os

    old = os.umask(0o027)
    try:
        out = tmp_path / f"x.{fmt}"
        result = CliRunner().invoke(embed, [str(good_tsv), "-o", str(out), "--model", tiny_model_path, "--format", fmt,
                                            "-q"])
        assert result.exit_code == 0, result.output
        assert os.stat(out).st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, good_tsv, tiny_model_path):
    import subprocess
    import sys

    out = tmp_path / "x.npy"
    proc = subprocess.run([sys.executable, "-m", "relbert.cli.embed_command", str(good_tsv), "-o", str(out), "--model",
                           tiny_model_path], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"wrote 2 rows (npy) to {out}"]


def test_one_row_is_one_row(tmp_path, tiny_model_path):
    one = tmp_path / "one.tsv"
    one.write_text("paris\tfrance\n", encoding="utf-8")
    result = CliRunner().invoke(embed, [str(one), "-o", str(tmp_path / "o.npy"), "--model", tiny_model_path])
    assert "wrote 1 row (npy)" in result.output


def test_an_empty_pairs_file_is_one_line_before_the_model_loads(tmp_path, tiny_model_path, monkeypatch):
    no_model_load(monkeypatch)
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    out = tmp_path / "x.npy"
    line = one_error_line(CliRunner().invoke(embed, [str(empty), "-o", str(out), "--model", tiny_model_path]))
    assert f"{empty}:1: no pairs" in line and not out.exists()


def test_a_comma_separated_file_is_told_about_tabs(tmp_path, tiny_model_path, monkeypatch):
    no_model_load(monkeypatch)
    path = tmp_path / "pairs.csv"
    path.write_text("paris,france\n")
    line = one_error_line(CliRunner().invoke(embed, [str(path), "-o", str(tmp_path / "x.npy"), "--model", tiny_model_path]))
    assert f"{path}:1: " in line and "a tab, not a comma" in line


def test_relbert_minilm_is_the_embedded_default_by_name(tmp_path, good_tsv, default_model):
    out = tmp_path / "named.npy"
    result = CliRunner().invoke(embed, [str(good_tsv), "-o", str(out), "--model", "relbert-minilm", "--precision", "fp32",
                                        "-q"])
    assert result.exit_code == 0, result.output
    import numpy as np

    np.testing.assert_allclose(np.load(out), default_model.embed([("paris", "france"), ("dog", "bark")]), atol=1e-6)


def test_a_bad_pairs_file_is_reported_before_torch_is_imported(tmp_path):
    """A wrong path or a malformed line is one line before the heavy imports (torch,
    transformers: seconds of the cold start), so the mistake shows at once."""
    import subprocess
    import sys

    bad = tmp_path / "bad.csv"
    bad.write_text("paris,france\n")
    code = ("import sys\nfrom click.testing import CliRunner\nfrom relbert.cli import embed\n"
            f"r = CliRunner().invoke(embed, [{str(bad)!r}, '-o', {str(tmp_path / 'x.npy')!r}])\n"
            f"m = CliRunner().invoke(embed, [{str(tmp_path / 'none.tsv')!r}, '-o', {str(tmp_path / 'x.npy')!r}])\n"
            "print(r.exit_code, m.exit_code, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
            "print(r.output.strip()); print(m.output.strip())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    assert lines[0] == "2 2 False False", proc.stdout + proc.stderr
    assert "bad.csv:1:" in lines[1] and "not a comma" in lines[1] and "none.tsv: no such file" in lines[2]


def test_ctrl_c_says_how_far_it_got_and_how_to_continue(tmp_path, tiny_model_path, monkeypatch):
    from relbert.embedding import run as embed_run

    pairs = tmp_path / "p.tsv"
    pairs.write_text("".join(f"w{i}\tv{i}\n" for i in range(20)))
    out = tmp_path / "x.npy"
    real = embed_run.EmbedRun._embed_chunk
    calls = []

    def interrupted(self, model, options, fd, offset, c, *rest):
        calls.append(c)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, model, options, fd, offset, c, *rest)

    monkeypatch.setattr(embed_run.EmbedRun, "_embed_chunk", interrupted)
    args = [str(pairs), "-o", str(out), "--model", tiny_model_path, "--rows-per-chunk", "8", "-q"]
    result = CliRunner().invoke(embed, args)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 130 and lines == [
        "error: interrupted after 8 of 20 pairs: rerun the same command with --resume to continue"]
    assert not out.exists()
    monkeypatch.setattr(embed_run.EmbedRun, "_embed_chunk", real)
    resumed = CliRunner().invoke(embed, args + ["--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert out.exists()


def test_a_run_smaller_than_one_chunk_still_saves_its_progress(tmp_path, tiny_model_path, monkeypatch):
    """4,400 pairs with the default --rows-per-chunk (16,384): chunks of a quarter of the run, so
    an interruption keeps what was done; progress moves per batch, not per chunk."""
    from relbert.embedding import run as embed_run

    assert embed_run.effective_chunk(4400, 16384) == 1100 and embed_run.effective_chunk(500, 16384) == 1024
    assert embed_run.effective_chunk(10 ** 6, 16384) == 16384 and embed_run.effective_chunk(20, 8) == 8
    pairs = tmp_path / "p.tsv"
    pairs.write_text("".join(f"w{i}\tv{i % 97}\n" for i in range(4400)), encoding="utf-8")
    out = tmp_path / "x.npy"
    real, calls = embed_run.EmbedRun._embed_chunk, []
    batches = []

    def interrupted(self, model, options, fd, offset, c, rows, hidden, size, on_rows=None):
        calls.append(c)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, model, options, fd, offset, c, rows, hidden, size,
                    lambda n: (batches.append(n), on_rows(n) if on_rows else None))

    monkeypatch.setattr(embed_run.EmbedRun, "_embed_chunk", interrupted)
    result = CliRunner().invoke(embed, [str(pairs), "-o", str(out), "--model", tiny_model_path, "-q"])
    assert result.exit_code == 130
    assert result.output.strip() == ("error: interrupted after 2,200 of 4,400 pairs: rerun the same command with "
                                     "--resume to continue")
    assert sum(batches) == 2200 and len(batches) > 2 and max(batches) <= 64  # one call per batch of 64 at most


def test_ctrl_c_before_the_first_chunk_leaves_nothing_and_names_a_chunk_size(tmp_path, tiny_model_path, monkeypatch):
    from relbert.embedding import run as embed_run

    pairs = tmp_path / "p.tsv"
    pairs.write_text("".join(f"w{i}\tv{i}\n" for i in range(300)))
    out = tmp_path / "x.npy"
    real = embed_run.EmbedRun._embed_chunk

    def interrupted(self, model, options, fd, offset, c, rows, hidden, size, on_rows=None):
        on_rows(64)  # one batch embedded, then Ctrl-C inside the first chunk
        on_rows(64)
        raise KeyboardInterrupt

    monkeypatch.setattr(embed_run.EmbedRun, "_embed_chunk", interrupted)
    result = CliRunner().invoke(embed, [str(pairs), "-o", str(out), "--model", tiny_model_path, "-q"])
    assert result.exit_code == 130
    line = result.output.strip()
    assert "before the first chunk (1,024 rows) was saved, no files left" in line
    assert "--rows-per-chunk 128 would have saved the 128 rows embedded" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tsv"]  # no hidden partial files
    monkeypatch.setattr(embed_run.EmbedRun, "_embed_chunk", real)


def test_resume_takes_the_chunk_size_of_the_interrupted_run_and_says_where(tmp_path, tiny_model_path, monkeypatch):
    from relbert.embedding import run as embed_run

    pairs = tmp_path / "p.tsv"
    pairs.write_text("".join(f"w{i}\tv{i}\n" for i in range(40)))
    out, full = tmp_path / "x.npy", tmp_path / "full.npy"
    assert CliRunner().invoke(embed, [str(pairs), "-o", str(full), "--model", tiny_model_path, "-q"]).exit_code == 0
    real, calls = embed_run.EmbedRun._embed_chunk, []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(embed_run.EmbedRun, "_embed_chunk", interrupted)
    args = [str(pairs), "-o", str(out), "--model", tiny_model_path]
    assert CliRunner().invoke(embed, args + ["--rows-per-chunk", "10", "-q"]).exit_code == 130
    monkeypatch.setattr(embed_run.EmbedRun, "_embed_chunk", real)
    resumed = CliRunner().invoke(embed, args + ["--resume"])  # without the first run's --rows-per-chunk
    assert resumed.exit_code == 0, resumed.output
    assert "resuming at row 21 of 40 (20 saved; chunks of 10 rows, as the interrupted run)" in resumed.output
    assert out.read_bytes() == full.read_bytes()


def test_trailing_blank_lines_are_ignored_and_inner_ones_refused(tmp_path, tiny_model_path):
    ok = tmp_path / "ok.tsv"
    ok.write_text("paris\tfrance\ndog\tbark\n\n")
    out = tmp_path / "ok.npy"
    result = CliRunner().invoke(embed, [str(ok), "-o", str(out), "--model", tiny_model_path, "-q"])
    assert result.exit_code == 0, result.output
    assert np.load(out).shape[0] == 2
    inner = tmp_path / "inner.tsv"
    inner.write_text("paris\tfrance\n\ndog\tbark\n")
    line = one_error_line(CliRunner().invoke(embed, [str(inner), "-o", str(tmp_path / "i.npy"), "--model",
                                                     tiny_model_path]))
    assert f"{inner}:2: blank line" in line


def test_a_space_separated_line_gets_the_tab_hint(tmp_path):
    spaced = tmp_path / "spaced.tsv"
    spaced.write_text("paris france\n")
    line = one_error_line(CliRunner().invoke(embed, [str(spaced), "-o", str(tmp_path / "s.npy")]))
    assert f"{spaced}:1:" in line and "a tab, not a space" in line
