"""The one path from token ids to relation vectors: encoder -> pooling.

- :class:`Pooling` owns the pooling: which positions an aggregation pools (selected by id, as
  the official package does), the masked sum (:func:`relbert.runtime.ops.pool`) and normalisation.
- :class:`TorchEncoder` is the single copy of "tokens -> encoder -> pooled vector": a
  ``torch.nn.Module`` used for inference (with the mask shortcut), for training (with
  gradients), for the ONNX export (traced) and by the word-difference baseline.
- :class:`relbert.runtime.onnx_runtime.OnnxEncoder` runs the same module exported to ONNX Runtime.

Both runtimes follow one interface (:class:`relbert.runtime.interface.Runtime`): called on a batch's
tensors they give its pooled vectors, ``run(batch, normalize)`` does the same for a numpy batch
from :meth:`relbert.PairTokenizer.encode`, ``workers`` says how many batches may run at once and
``default_batch_size(device)`` how many prompts a batch holds. Whether a batch takes the mask
shortcut is decided in one place, :func:`pools_one_position`. :func:`relbert.runtime.interface.build_encoder` picks and
builds one from (precision, runtime, device, compile) and checks the mask shortcut on the encoder
that will actually run.
"""
from __future__ import annotations

import logging
from typing import Dict, Optional, Union

import numpy as np
import torch
from torch import nn

from . import ops
from .mask_shortcut import MaskShortcut
from ..errors import OptionError
from ..templates import check_aggregation

_LOG = logging.getLogger("relbert")

#: How far the mask shortcut may differ from the full forward of the same encoder, relative to
#: the largest hidden value: fp32 only rounding; reduced precisions their own rounding (and for
#: int8 the other activation scale of a last layer that sees the mask rows only). A wrong layer
#: layout differs by the order of the values themselves.
SHORTCUT_TOLERANCE = {"fp32": 1e-4, "bf16": 5e-2, "fp16": 5e-2, "int8": 1e-1}


class Pooling:
    """Which positions are pooled, their masked sum, and normalisation (the paper's definitions).

    ``mask`` pools the mask token's positions, ``average`` every non-pad token and
    ``average_no_mask`` every non-pad token but the mask; all are masked **sums** (as in the
    official package), computed in fp32.
    """

    def __init__(self, aggregation: str, mask_token_id: int, pad_token_id: int):
        self.aggregation = check_aggregation(aggregation)
        self.mask_token_id = mask_token_id
        self.pad_token_id = pad_token_id

    def positions(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """``(B, L)`` int64 0/1: the positions this aggregation pools, selected by id."""
        if self.aggregation == "mask":
            sel = input_ids == self.mask_token_id
        elif self.aggregation == "average":
            sel = input_ids != self.pad_token_id
        else:
            sel = (input_ids != self.pad_token_id) & (input_ids != self.mask_token_id)
        return (sel & (attention_mask == 1)).astype(np.int64)

    @staticmethod
    def sum(hidden: torch.Tensor, pool_mask: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """``(B, H)`` float32 masked sum of ``hidden`` ``(B, L, H)`` over ``pool_mask`` ``(B, L)``."""
        return ops.pool(hidden, pool_mask, normalize=normalize)

    @staticmethod
    def normalize(vectors: Union[np.ndarray, torch.Tensor]) -> Union[np.ndarray, torch.Tensor]:
        """Rows divided by their L2 norm (zero rows stay zero); numpy in, numpy out."""
        if isinstance(vectors, np.ndarray):
            return ops.normalize_rows(torch.from_numpy(vectors)).numpy()
        return ops.normalize_rows(vectors)


class TorchEncoder(nn.Module):
    """Token ids -> Hugging Face encoder -> pooled vectors: the one copy of that path.

    Args:
        encoder: the Hugging Face encoder (``AutoModel``), any precision.
        shortcut: a :class:`MaskShortcut` (``mask`` pooling: last layer at the mask only), or None.
        mode: ``"auto"`` takes the shortcut for a batch whose rows each pool exactly one position
            (:func:`pools_one_position`) and the full forward otherwise;
            ``"shortcut"`` always takes it (the ONNX trace, whose caller routes the other rows);
            ``"full"`` never does.
        device: where inputs go (default: the encoder's).
    """

    name = "torch"  # which runtime this is (RelBERT.runtime.name)

    workers = 1  # batches at once (torch uses all threads within one batch)

    @staticmethod
    def default_batch_size(device: torch.device) -> Optional[int]:
        """64 prompts on CPU (the fastest measured, docs/performance.md); None on CUDA, where
        batches fill :data:`relbert.runtime.embed_loop.CUDA_TOKEN_BUDGET` padded tokens."""
        return None if torch.device(device).type == "cuda" else 64

    def __init__(self, encoder: nn.Module, shortcut: Optional[MaskShortcut] = None, mode: str = "auto",
                 device: Optional[torch.device] = None):
        super().__init__()
        if mode not in ("auto", "shortcut", "full"):
            raise OptionError(f"unknown mode {mode!r}")
        self.encoder = encoder
        self.shortcut = shortcut if mode != "full" else None
        self.mode = mode
        self.device = device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pool_mask: torch.Tensor,
                normalize: bool = False, one_position: Optional[bool] = None) -> torch.Tensor:
        # input_ids, attention_mask: (B, L) int64; pool_mask: (B, L) 0/1 -> (B, H) float32.
        # one_position: every row pools exactly one position (the caller knows it from the host
        # copy of the mask; None = find out on the device, which waits for it)
        with attention_backends(input_ids.device):
            return self._forward(input_ids, attention_mask, pool_mask, normalize, one_position)

    def _forward(self, input_ids, attention_mask, pool_mask, normalize, one_position):
        if self.shortcut is not None and self.mode != "shortcut" and one_position is None:
            one_position = pools_one_position(pool_mask)  # on the device: waits for it
        if self.shortcut is not None and (self.mode == "shortcut" or one_position):
            return self._short(input_ids, attention_mask, pool_mask, normalize)
        return self._full(input_ids, attention_mask, pool_mask, normalize)

    def _full(self, input_ids, attention_mask, pool_mask, normalize):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return Pooling.sum(hidden, pool_mask, normalize)

    def _short(self, input_ids, attention_mask, pool_mask, normalize):
        # one pooled position per row: its hidden state is the masked sum
        positions = pool_mask.argmax(1)
        vectors = self.shortcut.hidden_at(input_ids, attention_mask, positions)[:, 0].float()  # (B, H)
        return ops.normalize_rows(vectors) if normalize else vectors

    def tensors(self, batch: Dict[str, np.ndarray]):
        """``(input_ids, attention_mask, pool_mask)`` of an encoded batch, on the encoder's device."""
        device = self.device or next(self.encoder.parameters()).device
        return tuple(t.to(device) for t in host_tensors(batch))

    def run(self, batch: Dict[str, np.ndarray], normalize: bool = False) -> np.ndarray:
        """Pooled vectors ``(B, H)`` float32 of an encoded batch, without gradients."""
        with torch.inference_mode():
            return self(*self.tensors(batch), normalize=normalize,
                        one_position=pools_one_position(batch["pool_mask"])).cpu().numpy()


def host_tensors(batch: Dict[str, np.ndarray]):
    """``(input_ids, attention_mask, pool_mask)`` of an encoded batch as CPU tensors (no copy)."""
    return tuple(torch.from_numpy(np.ascontiguousarray(batch[k]))
                 for k in ("input_ids", "attention_mask", "pool_mask"))


def pools_one_position(pool_mask) -> bool:
    """The mask shortcut's one routing rule, for both runtimes: a batch takes the shortcut when
    every row pools exactly one position; a batch with any other row (a word containing the mask
    token's text pools two) runs the full forward for every row, so that the rows of a batch share
    one path (and, for int8, one activation scale). ``pool_mask``: numpy (the host copy, which
    never waits for the device: the embed loop decides there) or torch."""
    return bool((pool_mask.sum(1) == 1).all())


def attention_backends(device: torch.device):
    """On CUDA, scaled-dot-product attention restricted to the flash / memory-efficient / math
    kernels: cuDNN's attention builds a plan for every new sequence length (seconds at the
    first batches of each width) and was slower warm too (docs/performance.md, GPU). Elsewhere nothing."""
    import contextlib

    if device.type != "cuda":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def compile_encoder(encoder):
    """``torch.compile`` for inference: dynamic sequence lengths, weights frozen as constants."""
    logging.getLogger("relbert").warning(
        "compiling the encoder with torch.compile: the first batches take 10-60 s longer")
    return torch.compile(encoder, dynamic=True, options={"freezing": True})


def apply_precision(encoder, precision: str, device: torch.device):
    """The encoder converted for inference at ``precision`` (one of :data:`PRECISIONS`; see
    :meth:`RelBERT.from_pretrained`, which checks it)."""
    if precision == "fp32":
        return encoder
    if precision == "bf16":
        return encoder.to(torch.bfloat16)
    if precision == "fp16":
        if device.type != "cuda":
            raise OptionError("precision='fp16' needs a CUDA device (use bf16 or int8 on CPU)")
        return encoder.half()
    if device.type != "cpu":
        raise OptionError("precision='int8' (dynamic quantization) runs on CPU only")
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch points eager quantization users to torchao
        warnings.simplefilter("ignore")
        # one weight scale per output row: closer to fp32 than one per matrix (see docs/performance.md, int8)
        return quantize_dynamic(encoder, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def shortcut_holds(run_short, run_full, batch: Dict[str, np.ndarray], precision: str) -> bool:
    """Whether the shortcut (``run_short(batch)``) reproduces the full forward (``run_full(batch)``)
    of the same encoder within :data:`SHORTCUT_TOLERANCE` of ``precision``."""
    try:
        short = run_short(batch)
    except (AttributeError, TypeError, RuntimeError) as err:  # a layer variant the shortcut does not know
        _LOG.warning("relbert: mask shortcut off for this model (%s: %s); the full forward runs", type(err).__name__, err)
        return False
    full = run_full(batch)
    error = float(np.abs(short - full).max())
    scale = max(float(np.abs(full).max()), 1.0)
    if error > SHORTCUT_TOLERANCE[precision] * scale:
        _LOG.warning("relbert: mask shortcut off for this model: it differs from the full forward by %.3g "
                     "(scale %.3g); the full forward runs", error, scale)
        return False
    return True
