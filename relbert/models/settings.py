"""How a model runs: device, precision (``auto`` resolved, measured on a CPU) and runtime, each
checked in one line before any weights load (:func:`resolve_settings`), and the CUDA warm-up."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from ..errors import OptionError


def resolve_device(device: Optional[str]) -> torch.device:
    """``device`` as a torch device (default: CUDA when available, else CPU); an unknown name is
    an :class:`OptionError` (one line)."""
    try:
        return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError as err:
        raise OptionError(f"unknown device {device!r}: {err}") from None


def check_device(resolved: torch.device, device: Optional[str]) -> None:
    """A CUDA device that this torch cannot use is an :class:`OptionError` (one line), not
    torch's assertion at the first tensor moved there."""
    if resolved.type == "cuda":
        if not torch.backends.cuda.is_built():
            raise OptionError(f"device {device!r}: this torch ({torch.__version__}) was built without CUDA; "
                              "install a CUDA build of torch, or use --device cpu")
        if not torch.cuda.is_available():
            raise OptionError(f"device {device!r}: no CUDA GPU is visible to torch; use --device cpu")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise OptionError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) visible")


def start_cuda(device: torch.device):
    """On CUDA, a started thread that creates the device's context (seconds on a cold start),
    so that it overlaps the tokenizer and weight loading; None elsewhere. A failure there is
    left to the first real use of the device, which reports it."""
    if device.type != "cuda":
        return None
    import threading

    def create():
        try:
            torch.empty(1, device=device)
        except Exception:  # noqa: BLE001 - reported by the first real use
            pass

    thread = threading.Thread(target=create, name="relbert-cuda-init", daemon=True)
    thread.start()
    return thread


@dataclass
class Settings:
    """How a model runs, resolved and checked: see :func:`resolve_settings`."""

    device: torch.device
    precision: str
    reason: str  # why this precision (``auto`` resolved)
    runtime: str
    #: Precisions ``auto`` is to time on the loaded model (CPU; :mod:`relbert.runtime.measured_precision`)
    #: before it settles; empty where nothing is left to measure.
    measure: Tuple[str, ...] = ()


def resolve_settings(spec, device: Optional[str], precision: str, runtime: Optional[str],
                     compile: bool, name: Optional[str] = None) -> Settings:
    """Device, precision (``auto`` resolved, a named model's refusals applied) and runtime, each
    checked (one-line :class:`OptionError`) before any weights load. ``spec`` (where the model
    comes from, if known) says whether the model passed the bf16 rule and which named model it is."""
    from ..runtime.interface import resolve_runtime
    from ..runtime.precision import PRECISIONS, choose_precision
    from .named import NAMED_MODELS

    from ..runtime.measured_precision import CPU_CANDIDATES

    resolved = resolve_device(device)
    if resolved.type == "cpu":
        from ..runtime.measured_precision import match_threads

        match_threads()
    from_env = precision == "auto" and os.environ.get("RELBERT_PRECISION", "").strip()
    if from_env:
        precision = from_env
    validated = bool(spec is not None and (spec.shipped or {}).get("bf16_validated"))
    requested = precision
    precision, reason = choose_precision(precision, resolved.type, model_validated=validated, runtime=runtime)
    if from_env:
        reason = "from RELBERT_PRECISION"
    if precision not in PRECISIONS:
        where = "RELBERT_PRECISION" if from_env else "precision"
        raise OptionError(f"unknown {where} {precision!r}: choose one of auto, {', '.join(PRECISIONS)}")
    named = NAMED_MODELS.get(str(spec.name if spec is not None else name))
    refused = dict(named.refused_precisions) if named is not None else {}
    if precision in refused:
        raise OptionError(f"{named.name}: {refused[precision]}")
    measure: Tuple[str, ...] = ()
    if requested == "auto" and resolved.type == "cpu" and validated and runtime in (None, "torch") and not compile:
        # flags do not tell which is faster on a CPU: the loaded model is timed (or the cache read)
        measure = tuple(p for p in CPU_CANDIDATES if p not in refused)
        if len(measure) > 1:
            precision, reason = "fp32", "auto: not measured yet"
        else:
            measure = ()
    runtime = resolve_runtime(runtime, precision, resolved, compile)
    check_device(resolved, device)  # after the option checks: those are about what was asked
    return Settings(resolved, precision, reason, runtime, measure)


def settle_precision(settings: Settings, encoder, tokenizer, name: str, runtime: Optional[str], compile: bool) -> None:
    """Where ``auto`` left candidates to time (a CPU): the one measured fastest for ``encoder`` on this
    machine (the cache after the first run; :mod:`relbert.runtime.measured_precision`) goes into
    ``settings``, with its reason and runtime."""
    if not settings.measure:
        return
    from ..runtime.interface import resolve_runtime
    from ..runtime.measured_precision import choose_on_cpu

    choice = choose_on_cpu(encoder, tokenizer, name, candidates=settings.measure)
    settings.precision, settings.reason = choice.precision, choice.reason()
    settings.runtime = resolve_runtime(runtime, settings.precision, settings.device, compile)
    settings.measure = ()


#: Model types whose position ids start after the padding index (RoBERTa's layout): that many
#: fewer positions are usable than ``max_position_embeddings``.
POSITIONS_AFTER_PADDING = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "mpnet", "data2vec-text", "ernie_m")


def max_positions(config) -> Optional[int]:
    """The longest input the encoder's position embeddings hold (None where the config says nothing)."""
    total = getattr(config, "max_position_embeddings", None)
    if not isinstance(total, int) or total <= 0:
        return None
    if getattr(config, "model_type", None) in POSITIONS_AFTER_PADDING:
        total -= int(getattr(config, "pad_token_id", None) or 0) + 1
    return total


def check_max_length(max_length, config) -> int:
    """``max_length`` as an int from 4 to the encoder's positions, or a one-line OptionError (a longer
    prompt would otherwise fail deep in the encoder)."""
    value = int(max_length)
    limit = max_positions(config)
    if value < 4 or (limit is not None and value > limit):
        bound = f"from 4 to {limit}, the encoder's positions" if limit is not None else "at least 4"
        raise OptionError(f"max_length {value}: give a length {bound}")
    return value
