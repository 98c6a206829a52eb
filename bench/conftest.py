"""Shared inputs for the benchmarks: real pairs from ../shared/data and the packaged model."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("RELBERT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def real_pairs(n: int):
    """The first ``n`` distinct pairs of the analogy files (stems and choices), in file order."""
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA} (set RELBERT_DATA)")
    seen = {}
    for path in sorted((DATA / "analogy").glob("*/*.jsonl")):
        for line in path.open(encoding="utf-8"):
            record = json.loads(line)
            for pair in [record["stem"], *record["choice"]]:
                seen.setdefault(tuple(pair), None)
                if len(seen) == n:
                    return list(seen)
    return list(seen)


@pytest.fixture(scope="session")
def pairs_2k():
    return real_pairs(2000)


@pytest.fixture(scope="session")
def minilm():
    import torch

    from relbert import RelBERT

    torch.set_grad_enabled(True)
    return RelBERT.from_pretrained(device="cpu")


def report(benchmark, n_pairs: int, name: str, results: dict):
    """Record pairs/s in the benchmark's extra info and a shared table printed at the end."""
    seconds = benchmark.stats.stats.min
    rate = n_pairs / seconds
    benchmark.extra_info["pairs_per_s"] = round(rate, 1)
    results[name] = rate
    return rate


RESULTS: dict = {}


@pytest.fixture(scope="session")
def results():
    return RESULTS


def write_rows(rows, write_line):
    """A table of hand-timed figures: each row's value and unit, then its ratio to a reference
    measured in the same run, or a note."""
    width = max(len(r["figure"]) for r in rows)
    for r in rows:
        if r.get("ratio") is not None:
            extra = f" {r['ratio']:8.3f}x {r['reference']}"
        else:
            extra = f" {r['note']}" if r.get("note") else ""
        write_line(f"{r['figure']:{width}s} {r['value']:>14,.3f} {r['unit']:11s}{extra}")


def pytest_terminal_summary(terminalreporter):
    import sys

    rows = []
    for name in ("bench_cold_start", "bench_gpu", "bench_search", "bench_train"):  # files that time figures by hand
        module = sys.modules.get(name)
        if module is not None and module.ROWS:
            terminalreporter.write_sep("=", f"figures ({name}.py)")
            write_rows(module.ROWS, terminalreporter.write_line)
            rows += module.ROWS
    if rows and os.environ.get("RELBERT_BENCH_JSON"):  # the figures for the README, as JSON
        Path(os.environ["RELBERT_BENCH_JSON"]).write_text(json.dumps(rows, indent=1))
    if not RESULTS:
        return
    terminalreporter.write_sep("=", "throughput (best round)")
    # Ratios against the baseline of each family measured in this run.
    baselines = {"relbert_embed": "official_approach", "official_approach": "official_approach",
                 "relbert_train": "official_train_approach", "official_train": "official_train_approach",
                 "pair_tokenizer": "hf_fast_best", "hf_fast": "hf_fast_best",
                 "mpnet_": "mpnet_official_approach"}
    hf = [v for k, v in RESULTS.items() if k.startswith("hf_fast_parallel")]
    if hf:
        RESULTS["hf_fast_best"] = max(hf)
    fp32 = RESULTS.get("relbert_embed_fp32_b64")
    fp32_onnx = RESULTS.get("relbert_embed_fp32_onnx")
    for name, rate in RESULTS.items():
        if name.startswith("mfu_"):
            terminalreporter.write_line(f"{name:32s} {100 * rate:11.1f} %  (model FLOP/s over the measured GEMM rate)")
            continue
        base_name = next((b for prefix, b in baselines.items() if name.startswith(prefix)), None)
        base = RESULTS.get(base_name)
        ratio = f"  {rate / base:7.2f}x {base_name}" if base else ""
        if fp32 and name.startswith("relbert_embed_") and not name.startswith("relbert_embed_fp32"):
            ratio += f"  {rate / fp32:5.2f}x fp32"
        mpnet_fp32 = RESULTS.get("mpnet_embed_fp32")
        if mpnet_fp32 and name.startswith("mpnet_embed_") and name != "mpnet_embed_fp32":
            ratio += f"  {rate / mpnet_fp32:5.2f}x mpnet fp32"
        if fp32_onnx and name.startswith("relbert_embed_int8"):
            ratio += f"  {rate / fp32_onnx:5.2f}x fp32 onnx"
        terminalreporter.write_line(f"{name:32s} {rate:12.1f} /s{ratio}")
