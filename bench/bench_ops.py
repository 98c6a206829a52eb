"""relbert.runtime.ops side by side with baselines, one benchmark group per op.

CPU: the PyTorch path against the official package's approach (pure-Python cosine over
lists, one question at a time) on BATS-sized inputs. CUDA: Triton against PyTorch eager too.

    pytest bench/bench_ops.py --benchmark-only --benchmark-group-by=group
"""
from __future__ import annotations


import pytest
import torch

from relbert.runtime import ops

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
BACKENDS = ["torch"] + (["triton"] if CUDA else [])

# BATS test split: 1799 questions, 4-5 choices (ragged), relation vectors of MiniLM (384).
N_QUESTIONS, H = 1799, 384


def sync():
    if CUDA:
        torch.cuda.synchronize()


@pytest.fixture(scope="module")
def analogy_inputs():
    g = torch.Generator().manual_seed(0)
    counts = torch.randint(4, 6, (N_QUESTIONS,), generator=g)
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
    queries = torch.randn(N_QUESTIONS, H, generator=g)
    candidates = torch.randn(int(offsets[-1]), H, generator=g)
    return queries, candidates, offsets


def official_analogy(queries, candidates, offsets):
    def cosine_similarity(a, b):
        norm_a = sum(map(lambda x: x * x, a)) ** 0.5
        norm_b = sum(map(lambda x: x * x, b)) ** 0.5
        return sum(map(lambda x: x[0] * x[1], zip(a, b))) / (norm_a * norm_b)

    best = []
    for q in range(len(offsets) - 1):
        sims = [cosine_similarity(queries[q], candidates[c]) for c in range(offsets[q], offsets[q + 1])]
        best.append(sims.index(max(sims)))
    return best


@pytest.mark.benchmark(group="analogy_scores")
def test_analogy_official_python(benchmark, analogy_inputs):
    q, c, off = analogy_inputs
    lists = (q.tolist(), c.tolist(), off.tolist())
    best = benchmark.pedantic(official_analogy, args=lists, rounds=2, iterations=1)
    assert best == ops.analogy_scores(q, c, off, kernel="torch")[1].tolist()


@pytest.mark.benchmark(group="analogy_scores")
@pytest.mark.parametrize("backend", BACKENDS)
def test_analogy_ops(benchmark, analogy_inputs, backend):
    q, c, off = (t.to(DEVICE) for t in analogy_inputs)

    def run():
        out = ops.analogy_scores(q, c, off, kernel=backend)
        sync()
        return out

    benchmark(run)


@pytest.fixture(scope="module")
def pool_inputs():
    # A batch of 256 prompts of ~21 tokens (MiniLM hidden size).
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(256, 24, H, generator=g).to(DEVICE)
    mask = (torch.rand(256, 24, generator=g) > 0.1).long().to(DEVICE)
    return hidden, mask


@pytest.mark.benchmark(group="pool")
def test_pool_official_eager(benchmark, pool_inputs):
    hidden, mask = pool_inputs

    def run():
        out = (hidden * mask.reshape(len(mask), -1, 1)).sum(1)
        out = out / out.norm(dim=-1, keepdim=True)
        sync()
        return out

    benchmark(run)


@pytest.mark.benchmark(group="pool")
@pytest.mark.parametrize("backend", BACKENDS)
def test_pool_ops(benchmark, pool_inputs, backend):
    hidden, mask = pool_inputs

    def run():
        out = ops.pool(hidden, mask, kernel=backend)
        sync()
        return out

    benchmark(run)


@pytest.fixture(scope="module")
def topk_inputs():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, H, generator=g).to(DEVICE), torch.randn(200_000, H, generator=g).to(DEVICE)


@pytest.mark.benchmark(group="topk_cosine")
def test_topk_full_matrix(benchmark, topk_inputs):
    q, keys = topk_inputs

    def run():
        sims = torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(keys, dim=1).T
        out = torch.topk(sims, 10, dim=1)
        sync()
        return out

    benchmark(run)


@pytest.mark.benchmark(group="topk_cosine")
@pytest.mark.parametrize("backend", BACKENDS)
def test_topk_ops(benchmark, topk_inputs, backend):
    q, keys = topk_inputs

    def run():
        out = ops.topk_cosine(q, keys, 10, kernel=backend)
        sync()
        return out

    benchmark(run)
