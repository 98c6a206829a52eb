"""ops.topk_cosine: reference vs numpy brute force, kernel vs reference, tiling."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from relbert.runtime import ops

from helpers.kernel_helpers import DEVICE, DTYPES, tolerance


def numpy_topk(q, k, n):
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    kn = k / np.linalg.norm(k, axis=1, keepdims=True)
    sims = qn @ kn.T
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :n]
    return np.take_along_axis(sims, idx, 1), idx


@pytest.mark.parametrize("chunk", [7, 100, 65536])
def test_reference_matches_numpy_across_tiles(chunk):
    rng = np.random.default_rng(1)
    q, keys = rng.standard_normal((3, 24)), rng.standard_normal((250, 24))
    scores, index = ops.topk_cosine(torch.from_numpy(q), torch.from_numpy(keys), 10, kernel="torch", chunk=chunk)
    ref_s, ref_i = numpy_topk(q, keys, 10)
    np.testing.assert_allclose(scores.numpy(), ref_s, atol=1e-5)
    assert index.tolist() == ref_i.tolist()


@pytest.mark.parametrize("Q, N, H, k", [(1, 50, 384, 5), (4, 300, 768, 10), (2, 130, 1024, 3), (3, 5, 384, 20)])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_triton_matches_reference(Q, N, H, k, dtype):
    torch.manual_seed(Q * N)
    q = torch.randn(Q, H, device=DEVICE).to(dtype)
    keys = torch.randn(N, H, device=DEVICE).to(dtype)
    keys[1] = 0  # a zero key scores 0
    ref_s, ref_i = ops.topk_cosine(q, keys, k, kernel="torch", chunk=64)
    got_s, got_i = ops.topk_cosine(q, keys, k, kernel="triton", chunk=64)
    assert got_s.shape == (Q, min(k, N))  # k > N returns N
    exact = ops.topk_cosine(q.double(), keys.double(), k, kernel="torch")[0]
    assert float((got_s - ref_s).abs().max()) <= tolerance(dtype, float((ref_s - exact).abs().max()))
    if dtype == torch.float32:
        assert got_i.tolist() == ref_i.tolist()


def test_argument_checks():
    with pytest.raises(ValueError, match="k must be positive"):
        ops.topk_cosine(torch.zeros(1, 4), torch.zeros(3, 4), 0)
    with pytest.raises(ValueError, match="keys"):
        ops.topk_cosine(torch.zeros(1, 4), torch.zeros(3, 5), 1)


def test_auto_takes_the_torch_tile_and_triton_only_when_asked(monkeypatch):
    """kernel='auto' never runs the Triton tile (slower than the torch tile on CUDA, README GPU)."""
    calls = []
    import relbert.runtime.ops as ops_module

    monkeypatch.setattr(ops_module, "_kernels", lambda: calls.append("triton") or pytest.fail("triton tile used"))
    q, keys = torch.randn(3, 8), torch.randn(100, 8)
    ref = ops.topk_cosine(q, keys, 5, kernel="torch")
    got = ops.topk_cosine(q, keys, 5, kernel="auto")
    assert torch.equal(ref[1], got[1]) and not calls
    with pytest.raises(ValueError, match="unknown kernel"):
        ops.topk_cosine(q, keys, 5, kernel="cuda")


def test_tile_size_by_device():
    assert ops.topk_chunk(16, torch.device("cpu")) == 65536
    assert ops.topk_chunk(16, torch.device("cuda")) == ops.CUDA_TILE_SCORES // 16
    assert ops.topk_chunk(100_000, torch.device("cuda")) == 65536
