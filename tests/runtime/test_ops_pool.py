"""ops.pool: the PyTorch reference against numpy, and the Triton kernel against the reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from relbert.runtime import ops

from helpers.kernel_helpers import DEVICE, DTYPES, tolerance


def numpy_pool(hidden, mask, normalize):
    out = (hidden.astype(np.float64) * (mask[..., None] != 0)).sum(1)
    if normalize:
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        out = np.where(norm > 0, out / np.where(norm > 0, norm, 1), 0)
    return out


@pytest.mark.parametrize("normalize", [True, False])
def test_reference_matches_numpy(normalize):
    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((5, 9, 33)).astype(np.float32)
    mask = (rng.random((5, 9)) > 0.4).astype(np.int64)
    mask[2] = 0
    got = ops.pool(torch.from_numpy(hidden), torch.from_numpy(mask), normalize=normalize, kernel="torch")
    np.testing.assert_allclose(got.numpy(), numpy_pool(hidden, mask, normalize), atol=1e-5)
    assert not got[2].any()  # empty mask -> zero vector


SHAPES = [(1, 1, 384), (3, 7, 384), (4, 21, 768), (2, 64, 1024), (2, 512, 384), (5, 13, 100)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("normalize", [True, False])
def test_triton_matches_reference(shape, dtype, normalize):
    torch.manual_seed(sum(shape))
    B, L, H = shape
    hidden = torch.randn(B, L, H, device=DEVICE).to(dtype)
    mask = (torch.rand(B, L, device=DEVICE) > 0.3).long()
    mask[0, 0] = 1  # the single-token row case below keeps at least one position
    if B > 1:
        mask[-1] = 0  # an empty row
    ref = ops.pool(hidden, mask, normalize=normalize, kernel="torch")
    got = ops.pool(hidden, mask, normalize=normalize, kernel="triton")
    assert got.dtype == torch.float32 and got.shape == (B, H)
    exact = ops.pool(hidden.double(), mask, normalize=normalize, kernel="torch")
    scale = 1.0 if normalize else float(exact.abs().max().clamp(min=1))
    err = float((ref - exact).abs().max()) / scale
    assert float((got - ref).abs().max()) / scale <= tolerance(dtype, err)
    if B > 1:
        assert not got[-1].any()


def test_bool_mask_and_strided_hidden():
    hidden = torch.randn(3, 10, 64, device=DEVICE).transpose(0, 1)[:, :3]  # non-contiguous view
    mask = torch.rand(10, 3, device=DEVICE) > 0.5
    torch.testing.assert_close(ops.pool(hidden, mask, kernel="triton"), ops.pool(hidden, mask, kernel="torch"), atol=1e-5, rtol=0)


def test_bad_shapes_and_kernel():
    with pytest.raises(ValueError, match="pool_mask"):
        ops.pool(torch.zeros(2, 3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="kernel"):
        ops.pool(torch.zeros(2, 3, 4), torch.zeros(2, 3), kernel="cuda")
