"""Which precision ``auto`` means on this machine, and why.

bf16 pays only where the hardware computes it natively: a GPU, or a CPU with AVX-512 BF16 or AMX
(``avx512_bf16`` / ``amx_bf16`` in ``/proc/cpuinfo``). Elsewhere PyTorch emulates it and bf16 runs
slower than fp32, so ``auto`` takes fp32 there. For inference, ``auto`` also needs the model to
have passed the project's rule for a reduced precision (at most 1 validation point lost): models
whose metadata says so (``"bf16_validated": true`` in a shipped delta), others stay fp32.
"""
from __future__ import annotations

import functools
from typing import Optional, Tuple

#: Inference precisions (``"auto"`` chooses among fp32 and bf16).
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
#: Precisions ONNX Runtime runs here.
ONNX_PRECISIONS = ("fp32", "int8")
#: CPU flags that mean bf16 matrix products run natively.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=None)
def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset:
    """The CPU's feature flags (empty where /proc/cpuinfo is absent, e.g. macOS)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16_flag(flags: Optional[frozenset] = None) -> Optional[str]:
    """The first flag in :data:`NATIVE_BF16_FLAGS` that the CPU has, or None."""
    flags = cpu_flags() if flags is None else flags
    return next((flag for flag in NATIVE_BF16_FLAGS if flag in flags), None)


def choose_precision(requested: str, device_type: str, *, model_validated: bool = True,
                     flags: Optional[frozenset] = None, runtime: Optional[str] = None) -> Tuple[str, str]:
    """``(precision, reason)``: ``requested`` itself, or for ``"auto"`` bf16 where the hardware
    computes it natively and the model passed the bf16 rule, else fp32.

    Args:
        requested: ``"auto"`` or an explicit precision (returned unchanged).
        device_type: ``"cpu"``, ``"cuda"``, ...
        model_validated: the model's bf16 validation is within 1 point of fp32 (training passes
            True: bf16 autocast keeps fp32 weights and losses).
        flags: CPU flags (default: this machine's).
        runtime: ``"onnx"`` runs fp32 or int8 only, so ``auto`` is fp32 there.
    """
    if requested != "auto":
        return requested, "as requested"
    if runtime == "onnx":
        return "fp32", "ONNX Runtime runs fp32 (or int8, when asked)"
    if device_type == "cuda":
        hardware = "the GPU computes bf16 natively"
        import torch

        if not torch.cuda.is_bf16_supported():
            return "fp32", "this GPU has no native bf16"
    elif device_type == "cpu":
        flag = native_bf16_flag(flags)
        if flag is None:
            return "fp32", "this CPU has no native bf16 (no avx512_bf16 or amx_bf16): emulated bf16 is slower than fp32"
        hardware = f"this CPU has native bf16 ({flag})"
    else:
        return "fp32", f"no bf16 rule for device {device_type!r}"
    if not model_validated:
        return "fp32", f"{hardware}, but this model has no bf16 validation within 1 point of fp32"
    return "bf16", hardware
