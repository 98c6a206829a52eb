"""Triton kernels, installed as ``relbert.kernels``.

Imported only by :mod:`relbert.ops` when a kernel is asked for (CUDA tensors, or
``backend="triton"`` under ``TRITON_INTERPRET=1`` on CPU). Use the dispatching functions in
``relbert.ops`` rather than these directly: they check shapes and fall back to PyTorch.

The kernels load on first use, not when this package is imported: from a source checkout this
folder is also importable as a top-level ``kernels``, which transformers imports while probing
for the Hugging Face ``kernels`` package, so importing it must work without Triton installed.
"""
from importlib import import_module

#: Each kernel's module in this package.
_MODULES = {"analogy_scores": ".analogy", "pool_normalize": ".pool", "cosine_tile": ".topk"}

__all__ = sorted(_MODULES)


def __getattr__(name):
    if name in _MODULES:
        return getattr(import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
