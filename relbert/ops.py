"""Tensor ops of the embedding and evaluation path, with backend dispatch.

Each op has a PyTorch reference (``*_torch``) that runs anywhere and a Triton kernel in
``relbert.kernels`` used for CUDA tensors. ``backend="auto"`` picks Triton for CUDA tensors
and PyTorch otherwise; ``"triton"`` forces the kernel (on CPU only under
``TRITON_INTERPRET=1``), ``"torch"`` forces the reference. Triton is imported lazily, so
``import relbert`` on a CPU-only machine never imports it.
"""
from __future__ import annotations

from typing import Tuple

import torch

BACKENDS = ("auto", "triton", "torch")


def _use_triton(backend: str, *tensors: torch.Tensor) -> bool:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return all(t.is_cuda for t in tensors) and _triton_available()
    return backend == "triton"


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _kernels():
    try:
        from . import kernels
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "backend='triton' needs the Triton package: pip install triton (GPU machines), "
            "or use backend='torch'"
        ) from err
    return kernels


# --- pooling -----------------------------------------------------------------------------
def pool_torch(hidden: torch.Tensor, pool_mask: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Masked sum of hidden states over the selected positions, optionally L2-normalized.

    Args:
        hidden: (B, L, H) hidden states, any float dtype.
        pool_mask: (B, L) 0/1 (or bool) selection of the positions to pool.
        normalize: divide each row by its L2 norm (rows with an empty mask stay zero).

    Returns:
        (B, H) float32.
    """
    summed = torch.einsum("blh,bl->bh", hidden.float(), pool_mask.to(torch.float32))
    if normalize:
        norm = summed.norm(dim=-1, keepdim=True)
        summed = summed / torch.where(norm > 0, norm, torch.ones_like(norm))
    return summed


def pool(hidden: torch.Tensor, pool_mask: torch.Tensor, normalize: bool = True, backend: str = "auto") -> torch.Tensor:
    """Pool hidden states into one float32 vector per row (see :func:`pool_torch`).

    The paper's aggregations are masked sums: ``pool_mask`` selects the mask position
    (``mask``), every non-pad token (``average``) or every non-pad token but the mask
    (``average_no_mask``). Rows whose mask is empty give a zero vector.
    """
    if hidden.dim() != 3 or pool_mask.shape != hidden.shape[:2]:
        raise ValueError(f"pool: hidden must be (B, L, H) and pool_mask (B, L); got {tuple(hidden.shape)} and {tuple(pool_mask.shape)}")
    if _use_triton(backend, hidden, pool_mask):
        return _kernels().pool_normalize(hidden, pool_mask, normalize)
    return pool_torch(hidden, pool_mask, normalize)
