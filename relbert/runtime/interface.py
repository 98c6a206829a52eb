"""Which runtime runs the encoder, the interface every runtime follows, and the one factory.

``runtime`` is ``"torch"`` (every precision and device; eager, with the mask shortcut, optionally
compiled) or ``"onnx"`` (ONNX Runtime on CPU, fp32 and int8). :func:`build_encoder` returns a
:class:`relbert.runtime.torch_runtime.TorchEncoder` or a :class:`relbert.runtime.onnx_runtime.OnnxEncoder`; both follow
:class:`Runtime`, so :class:`relbert.runtime.embed_loop.EmbedLoop` (the one embed loop) and
:class:`relbert.RelBERT` never ask which one runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Protocol

from ..errors import OptionError
from .precision import ONNX_PRECISIONS


if TYPE_CHECKING:  # the runtimes themselves import torch: only on use (the CLI reads the lists below at start)
    import numpy as np
    import torch
    from torch import nn


class Runtime(Protocol):
    """What an inference runtime provides (TEI's backend trait, in Python).

    - ``runtime(input_ids, attention_mask, pool_mask, normalize=False, one_position=None)``:
      ``(B, H)`` float32 tensor of pooled vectors for a batch's ``(B, L)`` tensors
      (``one_position``: the host already knows every row pools one position).
    - ``run(batch, normalize=False)``: the same for a numpy batch from
      :meth:`relbert.PairTokenizer.encode`, as numpy, without gradients.
    - ``workers``: batches that may run at once (torch: 1, with all threads inside a batch;
      ONNX Runtime: one thread per batch).
    - ``default_batch_size(device)``: prompts per batch when the caller gives none (None: fill
      a token budget).
    - ``shortcut``: the :class:`relbert.runtime.mask_shortcut.MaskShortcut` in use, or None; which
      batches take it is :func:`relbert.runtime.torch_runtime.pools_one_position`.
    """

    workers: int
    shortcut: object

    def __call__(self, input_ids: "torch.Tensor", attention_mask: "torch.Tensor", pool_mask: "torch.Tensor",
                 normalize: bool = False, one_position: Optional[bool] = None) -> "torch.Tensor": ...

    def run(self, batch: Dict[str, "np.ndarray"], normalize: bool = False) -> "np.ndarray": ...

    def default_batch_size(self, device: "torch.device") -> Optional[int]: ...


#: Inference runtimes: torch (every precision and device) or ONNX Runtime (CPU, fp32 and int8).
RUNTIMES = ("torch", "onnx")


def resolve_runtime(runtime: Optional[str], precision: str, device: torch.device, compile: bool) -> str:
    """The runtime to run: ``runtime``, or by default ONNX Runtime for int8 on CPU and torch otherwise."""
    if runtime is None:
        runtime = "onnx" if precision == "int8" and device.type == "cpu" and not compile else "torch"
    if runtime not in RUNTIMES:
        raise OptionError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    if runtime == "onnx":
        if device.type != "cpu":
            raise OptionError("runtime 'onnx' runs on CPU only (use 'torch' on GPUs)")
        if precision not in ONNX_PRECISIONS:
            raise OptionError(f"runtime 'onnx' runs fp32 or int8, not {precision!r} (use 'torch')")
        if compile:
            raise OptionError("compile=True is for the torch runtime (the ONNX graph is optimised by ONNX Runtime)")
    return runtime


def build_encoder(model: nn.Module, probe: Dict[str, np.ndarray], *, aggregation: str, precision: str,
                  runtime: str, device: torch.device, compile: bool = False):
    """The encoder that will run: :class:`TorchEncoder` or :class:`~relbert.runtime.onnx_runtime.OnnxEncoder`.

    Args:
        model: the fp32 Hugging Face encoder on ``device`` (converted in place for torch
            precisions; left fp32 for ONNX Runtime, which exports it).
        probe: an encoded batch (two rows of different lengths, one mask each) to trace and to
            check the mask shortcut on.
        aggregation: the pooling; ``mask`` enables the shortcut where it holds.
        precision, runtime, device, compile: as :meth:`relbert.RelBERT.from_pretrained`.

    Returns:
        ``(encoder, hf_module)``: the runtime object and the (possibly converted) HF module.
    """
    from .torch_runtime import TorchEncoder, apply_precision, compile_encoder, shortcut_holds
    from .mask_shortcut import MaskShortcut
    from .onnx_runtime import OnnxEncoder

    shortcut = MaskShortcut(model) if aggregation == "mask" and not compile else None
    if shortcut is not None and not shortcut.available:
        shortcut = None
    if runtime == "onnx":
        return OnnxEncoder(model, probe, precision, shortcut), model
    module = apply_precision(model, precision, device)
    if compile:
        module = compile_encoder(module)
    encoder = TorchEncoder(module, MaskShortcut(module) if shortcut is not None else None, device=device)
    if encoder.shortcut is not None:
        full = TorchEncoder(module, None, mode="full", device=device)
        if not shortcut_holds(encoder.run, full.run, probe, precision):
            encoder.shortcut = None
    return encoder, module
