"""Helpers for kernel tests: which devices and dtypes to run, and tolerances."""
from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton", reason="Triton is not installed (pip install triton)")

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
#: The interpreter runs fp32 only; on CUDA the kernels are also checked in fp16/bf16.
DTYPES = [torch.float32] + ([torch.float16, torch.bfloat16] if CUDA else [])
requires_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


def tolerance(dtype: torch.dtype, reference_error: float = 0.0) -> float:
    """atol 1e-5 in fp32; in half precision, a multiple of PyTorch's own error against fp64."""
    return 1e-5 if dtype == torch.float32 else max(4 * reference_error, 1e-3)
