"""ONNX Runtime runtime: the encoder and the pooling exported once at load, run by ONNX Runtime.

Why it exists: on CPUs with int8 dot-product instructions (VNNI), ONNX Runtime's int8 GEMMs
(MLAS, u8 x s8) are faster than torch's fp32 and than torch's own eager int8 path (which torch
now points away from). ``precision="int8"`` therefore runs here by default; ``runtime="onnx"``
also runs fp32 through it. The measured figures are in docs/performance.md.

What is exported: :class:`relbert.runtime.torch_runtime.TorchEncoder`, ``input_ids (B, L) int64,
attention_mask (B, L) int64, pool_mask (B, L) float32 -> vectors (B, H) float32``, the raw
masked sum. With ``mask`` pooling and the mask shortcut available (see
:mod:`relbert.runtime.mask_shortcut`) a second graph evaluates the last layer at the mask position only.

Two measured choices (docs/performance.md):

- ONNX Runtime's fused ``SkipLayerNormalization`` and ``Attention`` kernels are switched off:
  on the machine measured, the fused SkipLayerNormalization was several times slower than
  Add + LayerNormalization, and the int8 model faster with both fusions off.
- Batches run in parallel on ``workers`` threads with one ONNX Runtime thread each (one
  session, whose ``run`` is thread-safe): these small matrices leave threads idle at every
  synchronisation when one batch uses all of them.

Nothing is written to disk beyond a temporary folder during the export; the quantized graph
lives in memory.
"""
from __future__ import annotations

import logging
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

from .mask_shortcut import MaskShortcut
from .precision import ONNX_PRECISIONS
from .torch_runtime import Pooling, TorchEncoder, pools_one_position, shortcut_holds
from ..errors import OptionError


_LOG = logging.getLogger("relbert")

#: ONNX Runtime graph fusions left off (see the module docstring for the measurements).
DISABLED_FUSIONS = ["SkipLayerNormFusion", "AttentionFusion"]
INPUTS = ("input_ids", "attention_mask", "pool_mask")


def _import_onnxruntime():
    try:
        import onnx  # noqa: F401 - the exporter and the quantizer need it
        import onnxruntime
    except ImportError as err:  # pragma: no cover - both are install requirements
        raise ImportError(
            "runtime='onnx' (and precision='int8') needs ONNX Runtime: pip install onnxruntime onnx") from err
    return onnxruntime


def export(module: nn.Module, sample: Dict[str, np.ndarray], path: Path) -> None:
    """Trace ``module`` on ``sample`` (an encoded batch) into an ONNX file with dynamic B and L.

    The trace uses the encoder's ``eager`` attention (switched back afterwards): the same
    arithmetic as ``sdpa``, without the NaN guard the exporter writes around SDPA's softmax,
    which made the int8 model 3-8 % slower end to end (no row here is fully masked).
    """
    args = tuple(torch.from_numpy(_feed(sample)[name]) for name in INPUTS)
    dynamic = {name: {0: "batch", 1: "length"} for name in INPUTS}
    dynamic["vectors"] = {0: "batch"}
    import warnings

    with warnings.catch_warnings(), torch.no_grad(), _eager_attention(module.encoder):
        warnings.simplefilter("ignore")  # tracer warnings about Python branches on shapes: checked in tests
        torch.onnx.export(module, args, str(path), input_names=list(INPUTS), output_names=["vectors"],
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)


@contextmanager
def _eager_attention(encoder: nn.Module):
    """Run ``encoder`` with Hugging Face's eager attention inside the block (when it can switch)."""
    config = getattr(encoder, "config", None)
    before = getattr(config, "_attn_implementation", None)
    switch = getattr(encoder, "set_attn_implementation", None)
    if switch is None or before in (None, "eager"):
        yield
        return
    try:
        switch("eager")
    except (ValueError, ImportError, AttributeError):  # a model without an eager path keeps its own
        yield
        return
    try:
        yield
    finally:
        switch(before)


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the weight matrices: s8 weights with one scale per output
    column, u8 activations with one scale per batch (computed as the graph runs)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                     per_channel=True, extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT})


def _feed(batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    return {"input_ids": np.ascontiguousarray(batch["input_ids"], dtype=np.int64),
            "attention_mask": np.ascontiguousarray(batch["attention_mask"], dtype=np.int64),
            "pool_mask": np.ascontiguousarray(batch["pool_mask"], dtype=np.float32)}


class OnnxEncoder:
    """The encoder + pooling (:class:`relbert.runtime.torch_runtime.TorchEncoder`) exported to ONNX and run by
    ONNX Runtime on CPU.

    With a mask shortcut two graphs are exported: the shortcut graph (last layer at the mask
    only) for batches whose rows each pool one position, and the full graph for the others (a
    word containing the mask token's text gives a row two mask positions, whose vector is their
    sum, as in torch and the official package): :func:`relbert.runtime.torch_runtime.pools_one_position`, the
    rule torch follows too. The shortcut graph is kept only if it reproduces the full
    graph on the probe batch at this precision.

    Args:
        encoder: the fp32 Hugging Face encoder (left unchanged).
        sample: an encoded batch (``PairTokenizer.encode``) to trace with; at least two rows
            of different lengths, so that nothing batch- or length-specific is baked in.
        precision: ``"fp32"`` or ``"int8"`` (dynamic quantization of the weight matrices).
        shortcut: a :class:`MaskShortcut` of ``encoder``, or None.
        workers: batches run at once, one ONNX Runtime thread each; default torch's thread count.
    """

    name = "onnx"  # which runtime this is (RelBERT.runtime.name)

    def __init__(self, encoder: nn.Module, sample: Dict[str, np.ndarray], precision: str = "fp32",
                 shortcut: Optional[MaskShortcut] = None, workers: Optional[int] = None):
        _import_onnxruntime()
        if precision not in ONNX_PRECISIONS:
            raise OptionError(f"runtime='onnx' runs fp32 or int8, not {precision!r}")
        self.precision = precision
        self.workers = max(1, int(workers or torch.get_num_threads()))
        start = time.perf_counter()
        _LOG.info("exporting the encoder to ONNX (%s); this takes a few seconds", precision)
        self.full = self._session(TorchEncoder(encoder, None, mode="full"), sample, precision)
        self.short = None
        if shortcut is not None:
            self.short = self._session(TorchEncoder(encoder, shortcut, mode="shortcut"), sample, precision)
            if not shortcut_holds(lambda b: self._run(self.short, b), lambda b: self._run(self.full, b), sample,
                                  precision):
                self.short = None
        self._shortcut = shortcut if self.short is not None else None
        _LOG.info("ONNX Runtime encoder ready in %.1f s", time.perf_counter() - start)

    @staticmethod
    def _session(module: nn.Module, sample, precision):
        import logging as std_logging

        ort = _import_onnxruntime()
        with tempfile.TemporaryDirectory(prefix="relbert-onnx-") as tmp:
            path = Path(tmp) / "encoder.onnx"
            export(module.eval(), sample, path)
            if precision == "int8":
                quantized = Path(tmp) / "encoder.int8.onnx"
                quiet = std_logging.getLogger()  # the quantizer warns on the root logger ("consider pre-processing")
                level = quiet.level
                quiet.setLevel(std_logging.ERROR)
                try:
                    quantize_int8(path, quantized)
                finally:
                    quiet.setLevel(level)
                path = quantized
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # ONNX Runtime's initializer-cleanup notices are not for users
            return ort.InferenceSession(path.read_bytes(), options, providers=["CPUExecutionProvider"],
                                        disabled_optimizers=DISABLED_FUSIONS)

    @staticmethod
    def _run(session, batch: Dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, _feed(batch))[0]

    @property
    def shortcut(self) -> Optional[MaskShortcut]:
        """The mask shortcut the shortcut graph was exported from, or None (full graph only)."""
        return self._shortcut

    @shortcut.setter
    def shortcut(self, value) -> None:
        raise AttributeError("the ONNX Runtime graph is fixed at export; load with runtime='torch' to change it")

    @staticmethod
    def default_batch_size(device=None) -> int:
        """32 prompts: the fastest measured with one ONNX Runtime thread per batch (docs/performance.md)."""
        return 32

    def run(self, batch: Dict[str, np.ndarray], normalize: bool = False) -> np.ndarray:
        """Pooled vectors ``(B, H)`` float32 of an encoded batch (thread-safe)."""
        short = self.short is not None and pools_one_position(np.asarray(batch["pool_mask"]))
        vectors = self._run(self.short if short else self.full, batch)
        return Pooling.normalize(vectors) if normalize else vectors

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pool_mask: torch.Tensor,
                 normalize: bool = False, one_position: Optional[bool] = None) -> torch.Tensor:
        """The runtime interface's call: CPU tensors of a batch in, ``(B, H)`` float32 tensor out."""
        batch = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy(),
                 "pool_mask": pool_mask.numpy()}
        return torch.from_numpy(self.run(batch, normalize=normalize))
