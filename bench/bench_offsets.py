"""The cost of relation + offset vectors: the embedded default at its shipped offset weight against
the same model at λ = 0 (relation vectors alone), side by side in one run, on 10,000 real pairs
of the benchmark files. Target: the ratio λ / λ=0 at least 0.75.

    pytest bench/bench_offsets.py --benchmark-only
"""
from __future__ import annotations

import pytest

from relbert import RelBERT

from conftest import real_pairs, report

N_PAIRS = 10_000


@pytest.fixture(scope="module")
def pairs_10k():
    pairs = real_pairs(N_PAIRS)
    if len(pairs) < N_PAIRS:
        pytest.skip(f"only {len(pairs)} distinct pairs in the analogy files")
    return pairs


@pytest.fixture(scope="module")
def shipped():
    model = RelBERT.from_pretrained(device="cpu")
    assert model.offset_weight > 0, "the embedded default ships an offset weight"
    return model


@pytest.fixture(scope="module")
def relation_only():
    return RelBERT.from_pretrained(device="cpu", offset_weight=0)


def test_default_relation_only(benchmark, relation_only, pairs_10k, results):
    benchmark.pedantic(relation_only.embed, args=(pairs_10k,), rounds=2, iterations=1, warmup_rounds=0)
    report(benchmark, len(pairs_10k), "default_lambda_0", results)


def test_default_with_offsets(benchmark, shipped, pairs_10k, results):
    benchmark.pedantic(shipped.embed, args=(pairs_10k,), rounds=2, iterations=1, warmup_rounds=0)
    rate = report(benchmark, len(pairs_10k), "default_lambda_shipped", results)
    if "default_lambda_0" in results:
        ratio = rate / results["default_lambda_0"]
        benchmark.extra_info["ratio_to_lambda_0"] = round(ratio, 3)
        print(f"\nrelation + offset (λ={shipped.offset_weight:g}) / relation only: {ratio:.3f}x "
              f"({rate:.0f} against {results['default_lambda_0']:.0f} pairs/s, precision {shipped.precision})")
