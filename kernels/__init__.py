"""Triton kernels, installed as ``relbert.kernels``.

Imported only by :mod:`relbert.ops` when a kernel is asked for (CUDA tensors, or
``backend="triton"`` under ``TRITON_INTERPRET=1`` on CPU). Use the dispatching functions in
``relbert.ops`` rather than these directly: they check shapes and fall back to PyTorch.
"""
from .analogy import analogy_scores
from .pool import pool_normalize
from .topk import cosine_tile

__all__ = ["analogy_scores", "cosine_tile", "pool_normalize"]
