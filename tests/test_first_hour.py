"""A user's first hour (round 3): every mistake gets one line, exit status 2, nothing written,
and is caught before a model loads or an evaluation runs."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from relbert.cli import embed


def one_error_line(result):
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def no_model_load(monkeypatch):
    from relbert import model as model_module

    def refuse(*args, **kwargs):
        raise AssertionError("the encoder was loaded")

    monkeypatch.setattr(model_module, "load_encoder", refuse)


@pytest.fixture()
def good_tsv(tmp_path):
    path = tmp_path / "good.tsv"
    path.write_text("paris\tfrance\ndog\tbark\n", encoding="utf-8")
    return path


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA")
@pytest.mark.parametrize("device, says", [("cuda", "without CUDA"), ("cuda:3", "without CUDA"), ("gpu", "unknown device")])
def test_a_cuda_device_on_a_cpu_torch_is_one_line(tmp_path, good_tsv, tiny_model_path, monkeypatch, device, says):
    no_model_load(monkeypatch)
    out = tmp_path / "x.npy"
    result = CliRunner().invoke(embed, [str(good_tsv), "-o", str(out), "--model", tiny_model_path, "--device", device])
    assert says in one_error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.tsv"]


# --- 1. relbert-search ------------------------------------------------------------------------------
@pytest.fixture()
def collection(tmp_path, tiny_model_path):
    """A tiny-model collection with a repeated pair."""
    tsv = tmp_path / "c.tsv"
    tsv.write_text("paris\tfrance\ntokyo\tjapan\nparis\tfrance\ndog\tbark\ncat\tmeow\n", encoding="utf-8")
    out = tmp_path / "c.npy"
    result = CliRunner().invoke(embed, [str(tsv), "-o", str(out), "--model", tiny_model_path, "-q"])
    assert result.exit_code == 0, result.output
    return tsv, out


def test_search_lists_a_repeated_pair_once(collection, tiny_model_path):
    from relbert.cli import search

    tsv, out = collection
    result = CliRunner().invoke(search, [str(out), "--pairs", str(tsv), "--query", "paris\\tfrance", "-k", "4", "-q"])
    assert result.exit_code == 0, result.output
    listed = [tuple(line.split("\t")[3:5]) for line in result.output.splitlines()]
    # the query pair is left out of its own results; the other 3 distinct pairs, each once
    assert ("paris", "france") not in listed and len(listed) == 3 and len(set(listed)) == 3
    result = CliRunner().invoke(search, [str(out), "--pairs", str(tsv), "--query", "paris\\tfrance", "-k", "4", "-q",
                                         "--include-query"])
    listed = [tuple(line.split("\t")[3:5]) for line in result.output.splitlines()]
    assert listed[0] == ("paris", "france") and len(listed) == 4 and len(set(listed)) == 4


def test_search_of_a_collection_from_another_model_is_one_line(collection, tmp_path, tiny_model_path, monkeypatch):
    import numpy as np

    from relbert.cli import search

    tsv, _ = collection
    wide = tmp_path / "wide.npy"
    np.save(wide, np.random.default_rng(0).standard_normal((5, 768)).astype(np.float32))
    result = CliRunner().invoke(search, [str(wide), "--pairs", str(tsv), "--query", "pig\\toink", "--model",
                                         tiny_model_path])
    line = one_error_line(result)
    assert "768-dimensional" in line and "--model" in line


def test_search_given_the_pairs_file_as_vectors_is_one_line(collection):
    from relbert.cli import search

    tsv, _ = collection
    line = one_error_line(CliRunner().invoke(search, [str(tsv), "--pairs", str(tsv), "--query", "paris\\tfrance"]))
    assert str(tsv) in line and ".npy or .npz" in line


# --- 2. and 7. output folders --------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["analogy", "classification", "mapping"])
def test_eval_output_folder_is_checked_before_anything_runs(tmp_path, tiny_model_path, monkeypatch, task):
    from relbert.cli import evaluate

    no_model_load(monkeypatch)
    out = tmp_path / "nodir" / "r.json"
    result = CliRunner().invoke(evaluate, [task, "-o", str(out), "--model", tiny_model_path, "--data-dir",
                                           str(tmp_path)])
    assert f"the output folder {out.parent} does not exist" in one_error_line(result)


def test_an_unwritable_output_names_the_output_not_a_work_file(tmp_path, good_tsv, tiny_model_path, monkeypatch):
    no_model_load(monkeypatch)
    line = one_error_line(CliRunner().invoke(embed, [str(good_tsv), "-o", "/proc/x.npy", "--model", tiny_model_path]))
    assert line.startswith("error: /proc/x.npy: cannot write") and "plan" not in line


# --- 8. word2vec with repeated pairs loads in gensim without warnings ---------------------------------
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


# --- 9. a byte-order mark --------------------------------------------------------------------------------
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


# --- 10. a misspelt named model ---------------------------------------------------------------------------
def test_a_misspelt_named_model_gets_did_you_mean(tmp_path, good_tsv):
    line = one_error_line(CliRunner().invoke(embed, [str(good_tsv), "-o", str(tmp_path / "x.npy"), "--model",
                                                     "relbert-mpnett"]))
    assert "did you mean 'relbert-mpnet'?" in line


# --- 11. file modes follow the umask ----------------------------------------------------------------------
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


def test_save_pretrained_weights_take_the_users_umask(tmp_path, tiny_model_path):
    import os

    from relbert import RelBERT

    old = os.umask(0o022)
    try:
        RelBERT.from_pretrained(tiny_model_path, device="cpu").save_pretrained(tmp_path / "saved")
    finally:
        os.umask(old)
    assert {p.name: os.stat(p).st_mode & 0o777 for p in (tmp_path / "saved").iterdir()}["model.safetensors"] == 0o644


# --- 12. small things ---------------------------------------------------------------------------------------
def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, good_tsv, tiny_model_path):
    import subprocess
    import sys

    out = tmp_path / "x.npy"
    proc = subprocess.run([sys.executable, "-m", "relbert.cli_embed", str(good_tsv), "-o", str(out), "--model",
                           tiny_model_path], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"wrote 2 rows (npy) to {out}"]


def test_one_row_is_one_row(tmp_path, tiny_model_path):
    one = tmp_path / "one.tsv"
    one.write_text("paris\tfrance\n", encoding="utf-8")
    result = CliRunner().invoke(embed, [str(one), "-o", str(tmp_path / "o.npy"), "--model", tiny_model_path])
    assert "wrote 1 row (npy)" in result.output


def test_mapping_report_has_no_split_and_eval_help_names_mapping():
    from relbert.cli import evaluate
    from relbert.evaluation.report import table

    report = {"task": "mapping", "split": None, "model": "m", "datasets": {}}
    assert table(report).splitlines()[0].startswith("mapping — ")
    assert "relation mapping" in CliRunner().invoke(evaluate, ["--help"]).output
    assert "memory-mapped" not in CliRunner().invoke(embed, ["--help"]).output


def test_download_takes_q_and_train_takes_precision():
    from relbert.cli import download, train

    assert "--quiet" in CliRunner().invoke(download, ["--help"]).output
    assert "--precision" in CliRunner().invoke(train, ["--help"]).output


# --- 4. a missing data folder names the way to give one ------------------------------------------------
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


# --- round 4 ---------------------------------------------------------------------------------
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


def test_embed_takes_one_pair_and_encode_is_there(default_model):
    import numpy as np

    one = default_model.embed(("paris", "france"))
    assert one.shape == (default_model.hidden_size,)
    np.testing.assert_array_equal(one, default_model.embed([("paris", "france")])[0])
    np.testing.assert_array_equal(default_model.encode([("paris", "france"), ("dog", "bark")]),
                                  default_model.embed([("paris", "france"), ("dog", "bark")]))


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
    from relbert import streaming

    pairs = tmp_path / "p.tsv"
    pairs.write_text("".join(f"w{i}\tv{i}\n" for i in range(20)))
    out = tmp_path / "x.npy"
    real = streaming.EmbedRun._embed_chunk
    calls = []

    def interrupted(self, model, options, fd, offset, c, rows, hidden):
        calls.append(c)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, model, options, fd, offset, c, rows, hidden)

    monkeypatch.setattr(streaming.EmbedRun, "_embed_chunk", interrupted)
    args = [str(pairs), "-o", str(out), "--model", tiny_model_path, "--rows-per-chunk", "8", "-q"]
    result = CliRunner().invoke(embed, args)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 130 and lines == [
        "error: interrupted after 8 of 20 pairs: rerun the same command with --resume to continue"]
    assert not out.exists()
    monkeypatch.setattr(streaming.EmbedRun, "_embed_chunk", real)
    resumed = CliRunner().invoke(embed, args + ["--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert out.exists()


def test_a_collection_carries_its_provenance_and_search_uses_it(tmp_path, tiny_model_path):
    import json
    import os

    from relbert.cli import search
    from tiny_model import build_tiny_bert

    tsv = tmp_path / "c.tsv"
    tsv.write_text("paris\tfrance\ntokyo\tjapan\ndog\tbark\ncat\tmeow\n")
    out = tmp_path / "c.npy"
    assert CliRunner().invoke(embed, [str(tsv), "-o", str(out), "--model", tiny_model_path, "-q"]).exit_code == 0
    made = json.loads((tmp_path / "c.npy.provenance.json").read_text())
    assert made["model"] == os.path.abspath(tiny_model_path) and made["rows"] == 4 and made["relbert_version"]
    assert {"precision", "template", "aggregation", "dimension"} <= set(made)
    query = ["--query", "rome\\titaly", "-k", "2", "-q"]  # not in the collection: embedded by the collection's model
    by_default = CliRunner().invoke(search, [str(out), "--pairs", str(tsv), *query])
    explicit = CliRunner().invoke(search, [str(out), "--pairs", str(tsv), *query, "--model", tiny_model_path])
    assert by_default.exit_code == 0 and by_default.output == explicit.output and by_default.output
    other = str(build_tiny_bert(tmp_path / "other", seed=1))  # same width: only provenance tells them apart
    line = one_error_line(CliRunner().invoke(search, [str(out), "--pairs", str(tsv), *query, "--model", other]))
    assert "was embedded with" in line and "--any-model" in line
    assert CliRunner().invoke(search, [str(out), "--pairs", str(tsv), *query, "--model", other,
                                       "--any-model"]).exit_code == 0
