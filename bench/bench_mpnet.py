"""relbert-mpnet (MPNet, 110M): RelBERT.embed per precision against the official package's
approach on the same model, side by side in one run. Skips unless ``relbert-download
relbert-mpnet`` has fetched the base.

    pytest bench/bench_mpnet.py --benchmark-only -p no:cacheprovider
"""
from __future__ import annotations

import pytest
import torch

from relbert import RelBERT
from relbert.errors import ModelNotFoundError

from bench_embed import official_approach
from conftest import real_pairs, report

N_PAIRS = 1000


@pytest.fixture(scope="module")
def pairs_1k():
    return real_pairs(N_PAIRS)


def load(**kwargs):
    try:
        return RelBERT.from_pretrained("relbert-mpnet", device="cpu", **kwargs)
    except ModelNotFoundError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def mpnet():
    return load()


def test_mpnet_official_approach(benchmark, mpnet, pairs_1k, results):
    benchmark.pedantic(official_approach, args=(mpnet, pairs_1k), rounds=2, iterations=1, warmup_rounds=0)
    report(benchmark, len(pairs_1k), "mpnet_official_approach", results)


def test_mpnet_embed_fp32(benchmark, mpnet, pairs_1k, results):
    benchmark.pedantic(mpnet.embed, args=(pairs_1k,), rounds=2, iterations=1, warmup_rounds=1)
    report(benchmark, len(pairs_1k), "mpnet_embed_fp32", results)


@pytest.mark.parametrize("precision, runtime", [("bf16", "torch"), ("int8", "onnx"), ("fp32", "onnx")])
def test_mpnet_embed_other(benchmark, mpnet, pairs_1k, precision, runtime, results):
    if precision == "bf16" and not torch.cpu._is_avx512_bf16_supported():
        pytest.skip("this CPU has no native bf16")
    if precision == "int8":  # not offered for relbert-mpnet (accuracy); its speed on the same architecture
        from relbert.models.named import base_folder

        model = RelBERT.from_pretrained(str(base_folder("relbert-mpnet")), template=mpnet.template,
                                        aggregation=mpnet.aggregation, precision="int8", runtime="onnx", device="cpu")
    else:
        model = load(precision=precision, runtime=runtime)
    benchmark.pedantic(model.embed, args=(pairs_1k,), rounds=2, iterations=1, warmup_rounds=1)
    report(benchmark, len(pairs_1k), f"mpnet_embed_{precision}_{runtime}", results)
