"""ops.analogy_scores: reference vs a plain-Python re-computation, kernel vs reference."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from relbert.runtime import ops

from helpers.kernel_helpers import DEVICE, DTYPES, tolerance


def python_scores(queries, candidates, offsets, rq=None, rc=None):
    """The official package's loop: one question at a time, cosine over lists."""
    def cos(a, b):
        na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
        return 0.0 if na * nb == 0 else sum(x * y for x, y in zip(a, b)) / (na * nb)

    scores, best = [], []
    for q in range(len(offsets) - 1):
        sims = [cos(queries[q], candidates[c]) for c in range(offsets[q], offsets[q + 1])]
        if rq is not None:
            sims = [s * cos(rq[q], rc[c]) for s, c in zip(sims, range(offsets[q], offsets[q + 1]))]
        scores += sims
        best.append(sims.index(max(sims)) if sims else -1)
    return np.array(scores), np.array(best)


def make(counts, H, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    offsets = torch.tensor([0] + list(np.cumsum(counts)), dtype=torch.int64)
    q = torch.randn(len(counts), H, generator=g)
    c = torch.randn(int(offsets[-1]), H, generator=g)
    return q.to(DEVICE, dtype), c.to(DEVICE, dtype), offsets.to(DEVICE)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_reference_matches_python(bidirectional):
    q, c, off = make([2, 5, 30, 1, 4], 16)
    c[3] = 0  # a zero candidate scores 0
    c[7] = c[6]  # a tie: the first wins
    kw = {"reversed_queries": -q + 0.5, "reversed_candidates": c * 2 - 1} if bidirectional else {}
    scores, best = ops.analogy_scores(q, c, off, kernel="torch", **kw)
    rs, rb = python_scores(q.tolist(), c.tolist(), off.tolist(),
                           *(kw["reversed_queries"].tolist(), kw["reversed_candidates"].tolist()) if bidirectional else ())
    np.testing.assert_allclose(scores.cpu().numpy(), rs, atol=1e-5)
    assert best.tolist() == rb.tolist()


@pytest.mark.parametrize("counts", [[2], [30], [2, 5, 30, 3], [4] * 50 + [2, 20, 25], [3, 0, 2]], ids=str)
@pytest.mark.parametrize("H", [384, 768, 1024])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_triton_matches_reference(counts, H, dtype, bidirectional):
    q, c, off = make(counts, H, seed=len(counts) + H, dtype=dtype)
    kw = {"reversed_queries": q.flip(1), "reversed_candidates": c.roll(1, dims=1)} if bidirectional else {}
    ref_s, ref_b = ops.analogy_scores(q, c, off, kernel="torch", **kw)
    got_s, got_b = ops.analogy_scores(q, c, off, kernel="triton", **kw)
    exact = ops.analogy_scores(q.double(), c.double(), off, kernel="torch",
                               **{k: v.double() for k, v in kw.items()})[0]
    assert float((got_s - ref_s).abs().max()) <= tolerance(dtype, float((ref_s - exact).abs().max()))
    if dtype == torch.float32:
        assert got_b.tolist() == ref_b.tolist()
    if 0 in counts:
        assert got_b[counts.index(0)] == -1  # a question without candidates


def test_argument_checks():
    q, c, off = make([2, 3], 8)
    with pytest.raises(ValueError, match="offsets"):
        ops.analogy_scores(q, c, off[:-1])
    with pytest.raises(ValueError, match="reversed"):
        ops.analogy_scores(q, c, off, reversed_queries=q)
