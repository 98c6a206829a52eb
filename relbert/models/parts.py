"""Loading a model's parts: the encoder's weights (safetensors first; a pickled ``.bin`` only
through torch's restricted unpickler, never a full unpickle) and its tokenizer, quietly, with one
line for each way a folder's files can fail to load."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import List

import torch

from ..errors import ModelFolderError, ModelNotFoundError, UnsafeCheckpointError
from ..tokenization.pair_tokenizer import _hf_tokenizer
from .folder import AGAIN
from .settings import start_cuda


def attention_implementation(config) -> str:
    """``"sdpa"`` where the architecture supports it (faster, and what the mask shortcut
    re-implements), else ``"eager"`` (MPNet, for one): every encoder loads without the user asking."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    try:
        model_class = MODEL_MAPPING[type(config)]
    except KeyError:
        return "sdpa"
    return "sdpa" if getattr(model_class, "_supports_sdpa", False) else "eager"


def _pickled_weights(folder: str) -> List[str]:
    """The pickled weights files a folder would be loaded from (none when safetensors exist)."""
    base = Path(folder)
    if any((base / n).is_file() for n in ("model.safetensors", "model.safetensors.index.json")):
        return []
    index = base / "pytorch_model.bin.index.json"
    if index.is_file():
        import json

        shards = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values()
        return [str(base / s) for s in sorted(set(shards))]
    return [str(base / "pytorch_model.bin")] if (base / "pytorch_model.bin").is_file() else []


def check_pickled_weights(folder: str) -> None:
    """Refuse pickled weights that need more than tensors and plain containers.

    Each ``pytorch_model.bin`` (or shard) is opened with torch's restricted unpickler
    (``weights_only=True``, memory-mapped): no object it names is imported or called, so a
    file built to run code is refused before transformers reads it.

    Raises:
        UnsafeCheckpointError: naming the file and what it asked for.
    """
    import pickle

    for file in _pickled_weights(folder):
        try:
            torch.load(file, map_location="meta", weights_only=True, mmap=True)
        except pickle.UnpicklingError as err:
            reason = str(err).split("\n")
            detail = next((ln.strip() for ln in reason if "GLOBAL" in ln or "Unsupported" in ln), reason[0].strip())
            raise UnsafeCheckpointError(
                f"{file}: refused: the pickle needs more than tensors and plain containers ({detail}); "
                "nothing in it was run") from None
        except RuntimeError as err:
            raise ModelNotFoundError(f"{file}: not a readable torch weights file: {str(err).splitlines()[0]}") from None


def load_encoder(path: str, config):
    """The Hugging Face encoder at ``path`` (folder or hub name), quietly.

    Weights: safetensors when present; else ``pytorch_model.bin`` (or its shards) through
    torch's restricted unpickler only (:func:`check_pickled_weights` first, then transformers
    with ``weights_only=True``). Attention: :func:`attention_implementation`.
    """
    from transformers import AutoModel

    local = os.path.isdir(path)
    if local:
        check_pickled_weights(path)
    try:
        with quiet_transformers():  # "Loading weights" per tensor: noise for a relation model
            return AutoModel.from_pretrained(path, config=config, weights_only=True,
                                             attn_implementation=attention_implementation(config))
    except UnsafeCheckpointError:
        raise
    except (OSError, ValueError) as err:
        raise (ModelFolderError if local else ModelNotFoundError)(
            f"cannot load weights of {path!r}: {first_line(err)}") from None
    except (TypeError, KeyError, AttributeError, RuntimeError) as err:
        if not local:
            raise
        # config.json values of the wrong type or size, weights that do not fit them
        raise ModelFolderError(f"model folder {path}: config.json and the weights do not make a model "
                               f"({type(err).__name__}: {first_line(err)}); {AGAIN}") from None


def first_line(err: BaseException) -> str:
    """The first non-empty line of an exception's message (library messages run to many lines)."""
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)


@contextmanager
def quiet_transformers():
    """transformers' progress bars off inside the block (restored after, if they were on)."""
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()


def load_tokenizer(path: str):
    """The Hugging Face tokenizer of ``path``; a local folder's broken tokenizer files are one line."""
    from ..errors import ModelLoadError

    try:
        return _hf_tokenizer(path)
    except ModelLoadError:
        raise
    except Exception as err:  # noqa: BLE001 - tokenizers raises its own exception types
        if not os.path.isdir(path):
            raise
        raise ModelFolderError(f"model folder {path}: the tokenizer's files do not load ({first_line(err)}); "
                               f"{AGAIN}") from None


def load_fp32_encoder(spec):
    """``spec``'s encoder in fp32, with its shipped delta applied (the fine-tuned tensors in the package)."""
    from .shipping import apply_delta

    encoder = load_encoder(spec.path, spec.config)
    if spec.shipped:
        apply_delta(encoder, spec.delta_dir)
    return encoder


def load_parts(spec, device: torch.device):
    """``(encoder, Hugging Face tokenizer)`` of ``spec``; on CUDA the device's context is created
    meanwhile (seconds on a cold start)."""
    cuda_ready = start_cuda(device)
    tokenizer = spec.hf_tokenizer()
    encoder = load_fp32_encoder(spec)
    if cuda_ready is not None:
        cuda_ready.join()
    return encoder, tokenizer
