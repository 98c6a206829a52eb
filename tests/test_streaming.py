"""Streaming relbert-embed with a tiny model: identity, resume after SIGKILL, torchrun,
formats (gensim reads word2vec), bounded memory, and relation search."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relbert.cli import embed

from helpers.pair_files import make_pairs

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
EMBED = [sys.executable, "-m", "relbert.cli.embed_command"]


def run_cli(*args, timeout=600):
    proc = subprocess.run([*EMBED, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_streaming_matches_embed_and_duplicates_are_identical(tiny_model_path, tmp_path):
    from relbert import RelBERT

    pairs = make_pairs(tmp_path / "pairs.tsv", 3000)
    out = tmp_path / "out.npy"
    result = CliRunner().invoke(embed, [str(tmp_path / "pairs.tsv"), "-o", str(out), "--model", tiny_model_path,
                                        "--rows-per-chunk", "700", "--cache-size", "50", "-q"])
    assert result.exit_code == 0, result.output
    vectors = np.load(out)
    model = RelBERT.from_pretrained(tiny_model_path)
    np.testing.assert_allclose(vectors, model.embed(pairs), atol=1e-5)
    first = {}
    for i, p in enumerate(pairs):
        j = first.setdefault(p, i)
        if j != i and i - j < 40:  # within the cache window: the row is copied bit for bit
            assert np.array_equal(vectors[i], vectors[j])
    # no leftovers: the output and its provenance (the model that made it)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy", "out.npy.provenance.json", "pairs.tsv"]


def test_sigkill_and_resume_is_byte_identical(tiny_model_path, tmp_path):
    make_pairs(tmp_path / "pairs.tsv", 60000, seed=1)
    common = ["--model", tiny_model_path, "--rows-per-chunk", "2000", "--cache-size", "1000", "-q"]
    run_cli(tmp_path / "pairs.tsv", "-o", tmp_path / "full.npy", *common)
    target = tmp_path / "resumed.npy"
    rng = random.Random(7)
    kills = 0
    # Three runs killed at random moments (start-up, planning, mid-chunk), then one to the end.
    for attempt, delay in enumerate([rng.uniform(2.0, 7.0) for _ in range(3)] + [None]):
        args = [tmp_path / "pairs.tsv", "-o", target, *common] + (["--resume"] if attempt else [])
        proc = subprocess.Popen([*EMBED, *map(str, args)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=delay if delay is not None else 600)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if target.exists():  # killed after the final rename: the output must be complete
                break
            kills += 1  # killed mid-run: nothing under the final name; the next run resumes
            continue
        assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
        break
    assert kills >= 1, "the run finished before it could be killed: make it longer"
    assert target.read_bytes() == (tmp_path / "full.npy").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".provenance.json")) == [
        "full.npy", "pairs.tsv", "resumed.npy"]


def test_resume_refuses_changed_input_or_model(tiny_model_path, tmp_path, minilm_path):
    make_pairs(tmp_path / "pairs.tsv", 5000, seed=2)
    out = tmp_path / "out.npy"
    args = [str(tmp_path / "pairs.tsv"), "-o", str(out), "--model", tiny_model_path, "--rows-per-chunk", "1000", "-q"]
    from relbert.embedding import run as embed_run

    calls = {"n": 0}
    original = embed_run.EmbedRun._record_done

    def interrupt(self, index):
        original(self, index)
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash")

    embed_run.EmbedRun._record_done = interrupt
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            CliRunner().invoke(embed, args, catch_exceptions=False)
    finally:
        embed_run.EmbedRun._record_done = original
    assert not out.exists()
    changed_model = CliRunner().invoke(embed, args[:3] + ["--model", minilm_path, "--rows-per-chunk", "1000", "-q", "--resume"])
    assert changed_model.exit_code == 2 and "model or its options changed" in changed_model.output
    changed_options = CliRunner().invoke(embed, args + ["--resume", "--batch-size", "7"])
    assert changed_options.exit_code == 2 and "changed" in changed_options.output
    with open(tmp_path / "pairs.tsv", "a", encoding="utf-8") as handle:
        handle.write("new\tpair\n")
    changed_input = CliRunner().invoke(embed, args + ["--resume"])
    assert changed_input.exit_code == 2 and "changed since the interrupted run" in changed_input.output


def test_torchrun_two_processes_same_file(tiny_model_path, tmp_path):
    make_pairs(tmp_path / "pairs.tsv", 6000, seed=3)
    common = ["--model", tiny_model_path, "--rows-per-chunk", "900", "--cache-size", "500", "-q"]
    run_cli(tmp_path / "pairs.tsv", "-o", tmp_path / "one.npy", *common)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29541",
                           "-m", "relbert.cli.embed_command", str(tmp_path / "pairs.tsv"), "-o", str(tmp_path / "two.npy"), *common],
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "two.npy").read_bytes() == (tmp_path / "one.npy").read_bytes()


def test_formats_npz_and_word2vec_gensim(tiny_model_path, tmp_path):
    gensim = pytest.importorskip("gensim")
    pairs = make_pairs(tmp_path / "pairs.tsv", 500, seed=4)
    runner = CliRunner()
    for fmt in ("npy", "npz", "word2vec"):
        result = runner.invoke(embed, [str(tmp_path / "pairs.tsv"), "-o", str(tmp_path / f"out.{fmt}"), "--format", fmt,
                                       "--model", tiny_model_path, "-q"])
        assert result.exit_code == 0, result.output
    vectors = np.load(tmp_path / "out.npy")
    npz = np.load(tmp_path / "out.npz")
    assert np.array_equal(npz["vectors"], vectors) and [tuple(p) for p in npz["pairs"].tolist()] == pairs
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(tmp_path / "out.word2vec"), binary=False)
    key = "natural_selection__" + pairs[0][1] if pairs[0][0] == "natural selection" else f"{pairs[0][0]}__{pairs[0][1]}".replace(" ", "_")
    np.testing.assert_allclose(kv[key], vectors[0], rtol=1e-6, atol=1e-7)
    assert kv.vector_size == vectors.shape[1]


def peak_rss_mb(args) -> float:
    """Peak resident memory (VmHWM) of relbert-embed in a fresh process. Not ``ru_maxrss``: Linux
    carries the forking parent's peak (pytest's) into it across exec, which could hide growth."""
    code = ("import sys\nfrom relbert.cli import embed\n"
            "try:\n    embed(sys.argv[1:], standalone_mode=False)\n"
            "finally:\n    print('RSS', int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) / 1024)\n")
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return float(proc.stdout.strip().split("RSS")[-1])


def distinct_pairs(path: Path, n: int, seed: int) -> None:
    """n pairs of distinct random words: every word is new to the tokenizer's word cache."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            head = "".join(rng.choice(letters) for _ in range(rng.randint(4, 9)))
            tail = "".join(rng.choice(letters) for _ in range(rng.randint(4, 9)))
            handle.write(f"{head}{i}\t{tail}{i}\n")


@pytest.mark.slow
def test_memory_is_bounded_for_any_vocabulary_and_any_n(tiny_model_path, tmp_path):
    """500,000 pairs of distinct words against 10,000: peak RSS grows by less than 150 MB (the
    output's rows are written with pwrite, so none of its 64 MB stays mapped; the word caches
    (1M distinct words against a bound of 131,072) and the duplicate cache are bounded).
    Measured here: +77 MB at 400,000 pairs."""
    distinct_pairs(tmp_path / "small.tsv", 10_000, seed=5)
    distinct_pairs(tmp_path / "large.tsv", 500_000, seed=6)
    common = ["--model", tiny_model_path, "-q", "--batch-size", "256", "--max-length", "128"]
    small = peak_rss_mb([tmp_path / "small.tsv", "-o", tmp_path / "s.npy", *common])
    large = peak_rss_mb([tmp_path / "large.tsv", "-o", tmp_path / "l.npy", *common])
    assert np.load(tmp_path / "l.npy", mmap_mode="r").shape[0] == 500_000
    print(f"peak RSS: 10k pairs {small:.0f} MB, 500k pairs {large:.0f} MB")
    assert large - small < 150, (small, large)
