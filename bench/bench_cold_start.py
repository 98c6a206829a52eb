"""The first hour's latencies, as a user meets them: whole ``relbert-embed`` processes.

- ``bad_line``: a malformed pairs file (reported before torch and transformers load);
- ``help``: ``relbert-embed --help``;
- ``small``: 6,000 real pairs with the embedded default, end to end (start, imports, model load,
  embedding, output), next to the same model's warm rate inside one process, so the cold
  start's share is plain.

    pytest bench/bench_cold_start.py --benchmark-only -p no:cacheprovider
"""
from __future__ import annotations

import subprocess
import time

import pytest

from conftest import real_pairs

ROWS: list = []
_WARM: dict = {}


def run(*args):
    started = time.perf_counter()
    proc = subprocess.run(["relbert-embed", *args], capture_output=True, text=True)
    return time.perf_counter() - started, proc


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cold")
    pairs = real_pairs(6000)
    (folder / "pairs.tsv").write_text("".join(f"{h}\t{t}\n" for h, t in pairs), encoding="utf-8")
    (folder / "bad.tsv").write_text("paris\tfrance\nno tab here\n", encoding="utf-8")
    return folder, pairs


def test_bad_line(benchmark, files):
    folder, _ = files
    seconds, proc = benchmark.pedantic(run, args=(str(folder / "bad.tsv"), "-o", str(folder / "x.npy")), rounds=3)
    assert proc.returncode == 2
    ROWS.append({"figure": "relbert-embed on a malformed file: error shown", "value": benchmark.stats.stats.min,
                 "unit": "s"})


def test_help(benchmark):
    benchmark.pedantic(run, args=("--help",), rounds=3)
    ROWS.append({"figure": "relbert-embed --help", "value": benchmark.stats.stats.min, "unit": "s"})


def test_small(benchmark, files):
    folder, pairs = files
    from relbert import RelBERT

    model = RelBERT.from_pretrained(device="cpu")
    model.embed(pairs[:256])
    started = time.perf_counter()
    model.embed(pairs)
    warm = len(pairs) / (time.perf_counter() - started)
    seconds, proc = benchmark.pedantic(run, args=(str(folder / "pairs.tsv"), "-o", str(folder / "o.npy"), "-q"),
                                       rounds=2)
    assert proc.returncode == 0, proc.stderr
    total = benchmark.stats.stats.min
    embed_only = len(pairs) / warm
    ROWS.append({"figure": f"relbert-embed of {len(pairs):,} pairs, end to end ({model.precision})", "value": total,
                 "unit": "s", "note": f"{len(pairs) / total:,.0f} pairs/s; warm in one process {warm:,.0f} pairs/s "
                                      f"({embed_only:.1f} s): start-up and load {total - embed_only:.1f} s"})


def test_first_run_measures_precision_later_runs_read_it(files, tmp_path):
    """What auto's measurement adds: the same small command with an empty $RELBERT_HOME (the first
    run on a CPU: it times fp32 and bf16) and then with the cache it wrote (every later run)."""
    import os

    folder, _ = files
    (folder / "ten.tsv").write_text("".join(f"w{i}\tv{i}\n" for i in range(10)))
    env = {**os.environ, "RELBERT_HOME": str(tmp_path / "home")}
    times = []
    for _ in range(2):
        started = time.perf_counter()
        proc = subprocess.run(["relbert-embed", str(folder / "ten.tsv"), "-o", str(folder / "ten.npy"), "-q", "-v"],
                              capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - started)
        assert proc.returncode == 0, proc.stderr
    ROWS.append({"figure": "relbert-embed of 10 pairs, first run on this CPU (auto measures)", "value": times[0],
                 "unit": "s", "note": f"later runs (cache read) {times[1]:.2f} s: the measurement costs "
                                      f"{times[0] - times[1]:.2f} s once"})
