"""bench/bench_gpu.py runs before a GPU is at hand: the same code on CPU with tiny sizes
(RELBERT_BENCH_GPU_SMOKE=1), and without CUDA and without that switch it skips cleanly."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
WORDS = ("paris france tokyo japan dog bark cat meow cow moo rome italy bird nest bee hive car road ship sea "
         "tree leaf king queen man woman hot cold up down big small").split()


def run_bench(tmp_path, **env):
    rng, pairs = random.Random(0), set()
    while len(pairs) < 400:
        pairs.add((rng.choice(WORDS), rng.choice(WORDS)))
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{h}\t{t}\n" for h, t in sorted(pairs)), encoding="utf-8")
    # without pytest-xdist's worker variables: pytest-benchmark would disable itself in the child
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env = {**base, "RELBERT_BENCH_PAIRS": str(tsv), "RELBERT_BENCH_JSON": str(tmp_path / "gpu.json"), **env}
    return subprocess.run([sys.executable, "-m", "pytest", "bench/bench_gpu.py", "--benchmark-only", "-q",
                           "-p", "no:cacheprovider"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: the real benchmark runs instead")
def test_skips_cleanly_without_cuda(tmp_path):
    proc = run_bench(tmp_path, RELBERT_BENCH_GPU_SMOKE="0")
    assert proc.returncode == 0 and "skipped" in proc.stdout and "failed" not in proc.stdout, proc.stdout[-2000:]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: the real benchmark runs instead")
def test_every_figure_is_produced_by_the_cpu_smoke_run(tmp_path):
    proc = run_bench(tmp_path, RELBERT_BENCH_GPU_SMOKE="1")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    rows = json.loads((tmp_path / "gpu.json").read_text())
    figures = " | ".join(r["figure"] for r in rows)
    for needed in ("encoder alone", "RelBERT.embed, default batch", "batch 1024", "official approach",
                   "fresh process (wall)", "first embed", "pool + normalize", "analogy scoring", "bandwidth floor",
                   "torch tile", "training, bf16 autocast: relbert Trainer"):
        assert needed in figures, needed
    assert all(r["value"] > 0 for r in rows)
