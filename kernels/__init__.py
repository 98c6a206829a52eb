"""Triton kernels, installed as ``relbert.kernels``.

Imported only by :mod:`relbert.runtime.ops` when a kernel is asked for (CUDA tensors, or
``backend="triton"`` under ``TRITON_INTERPRET=1`` on CPU). Use the dispatching functions in
``relbert.runtime.ops`` rather than these directly: they check shapes and fall back to PyTorch.

From a source checkout's root this folder is also reachable as a top-level ``kernels``: the name
of Hugging Face's ``kernels`` distribution, which transformers imports while loading any model.
This folder never answers to that name: imported as ``kernels`` it hands over to the installed
distribution, or fails as if it were absent (:func:`_hand_over`), so the checkout shadows nothing.
The kernels themselves load on first use, not when this package is imported.
"""

import sys


def _hand_over():
    """Imported as the top-level ``kernels``: put the installed distribution of that name in this
    module's place (found on ``sys.path`` without this checkout's root), or raise the
    ModuleNotFoundError an import would raise without the checkout."""
    import importlib.util
    import os
    from importlib.machinery import PathFinder

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    elsewhere = [p for p in sys.path if os.path.abspath(p or os.curdir) != root]
    spec = PathFinder.find_spec(__name__, elsewhere)
    del sys.modules[__name__]
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {__name__!r}", name=__name__)
    module = importlib.util.module_from_spec(spec)
    sys.modules[__name__] = module  # the import statement returns what sys.modules holds
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(__name__, None)
        raise


if __name__ == "kernels":
    _hand_over()

from importlib import import_module  # noqa: E402 - after the hand-over

#: Each kernel's module in this package.
_MODULES = {"analogy_scores": ".analogy", "pool_normalize": ".pool", "cosine_tile": ".topk"}

__all__ = sorted(_MODULES)


def __getattr__(name):
    if name in _MODULES:
        return getattr(import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
