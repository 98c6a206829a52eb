"""The :class:`RelBERT` class: a masked-LM encoder + prompt template + pooling -> relation vectors.

Building one has one path: :func:`relbert.models.loading.resolve` resolves a name and its options
once (``ModelSpec``, ``Settings``), :meth:`RelBERT.from_resolved` loads the parts
(:mod:`relbert.models.parts`) and puts them together, and :meth:`RelBERT.from_pretrained` is the
two in a row; :meth:`RelBERT.from_parts` takes an encoder and tokenizer already in memory. Saving is :mod:`relbert.models.saving`; the
batches and the loop that runs them are :mod:`relbert.runtime.embed_loop`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .models.loading import (DEFAULT_AGGREGATION, DEFAULT_TEMPLATE, ModelSpec, model_key, read_relbert_config,
                             relbert_config_block, resolve, stored_offset_weight)
from .models.parts import load_parts
from .models.settings import Settings, check_max_length, resolve_settings, settle_precision
from .offsets import check_offset_weight, combine
from .runtime.pair_vectors import relation_and_offset
from .runtime.interface import build_encoder
from .runtime.mask_shortcut import MaskShortcut
from .templates import check_aggregation, resolve_template, template_name
from .tokenization.pair_tokenizer import PairTokenizer, _check_pair, check_pair_tokenizer
from .tokenization.prompts import Prompts
from .embedding.kind import VectorKind
from .errors import OptionError

Pair = Tuple[str, str]


class RelBERT:
    """Relation embeddings from a masked language model (Ushio et al., RelBERT).

    A word pair is written into a prompt template, the encoder reads it, and the last
    hidden layer is pooled (a masked sum) into one vector. Example:
        >>> model = RelBERT.from_pretrained()          # the embedded default
        >>> vectors = model.embed([("paris", "france"), ("tokyo", "japan")])
        >>> float(vectors[0] @ vectors[1])             # cosine (rows are L2-normalized)

    ``RelBERT(path)`` is the same as ``RelBERT.from_pretrained(path)`` (the official
    package's constructor), so ``RelBERT("path").get_embedding(pairs)`` keeps working.
    """

    def __init__(self, name_or_path: Optional[str] = None, **options):
        self.__dict__.update(type(self).from_pretrained(name_or_path, **options).__dict__)

    @classmethod
    def from_pretrained(cls, name_or_path: Optional[str] = None, *, template: Optional[str] = None,
                        aggregation: Optional[str] = None, max_length: int = 64, device: Optional[str] = None,
                        precision: str = "auto", compile: bool = False, runtime: Optional[str] = None,
                        offset_weight: Optional[float] = None) -> "RelBERT":
        """Load an encoder as a RelBERT model (docs/python.md has every option at length).

        Args:
            name_or_path: Hugging Face model name or local folder; None = the embedded default. A
                checkpoint with a ``relbert_config`` block brings its template and aggregation.
            template: paper template name (``"a"``..``"e"``) or a string with ``<subj>``,
                ``<obj>`` and ``<mask>``. aggregation: ``"mask"``, ``"average"`` or ``"average_no_mask"``.
            max_length: longest prompt in tokens; longer prompts are an error, never truncated.
            device: torch device; default CUDA when available, else CPU.
            precision: ``"auto"`` (of the precisions the model is validated in, the one measured fastest on this
                CPU, cached; on a GPU bf16 where native), ``"fp32"``, ``"bf16"``, ``"fp16"`` (GPU) or ``"int8"`` (CPU).
            compile: run the encoder through ``torch.compile`` (opt-in; full forward).
            runtime: ``"torch"`` or ``"onnx"`` (ONNX Runtime, CPU, fp32 or int8); default ONNX
                Runtime for int8 on CPU, torch otherwise.
            offset_weight: λ >= 0 of the relation + offset vector (:mod:`relbert.offsets`); None:
                the model's stored value (0 for a model without one); 0: the relation vector alone.
        """
        spec, settings = resolve(name_or_path, template=template, aggregation=aggregation, device=device,
                                 precision=precision, runtime=runtime, compile=compile)  # bad options fail here
        return cls.from_resolved(spec, settings, max_length=max_length, runtime=runtime, compile=compile,
                                 offset_weight=offset_weight)

    @classmethod
    def from_resolved(cls, spec: ModelSpec, settings: Settings, *, max_length: int = 64, runtime: Optional[str] = None,
                      compile: bool = False, offset_weight: Optional[float] = None) -> "RelBERT":
        """The model :func:`relbert.models.loading.resolve` found, loaded (the tokenizer the spec
        already loaded is reused: a command that planned its input with it resolves nothing twice)."""
        encoder, tokenizer = load_parts(spec, settings.device)
        return cls._assemble(encoder, tokenizer, settings, template=spec.template, aggregation=spec.aggregation,
                             max_length=max_length, runtime=runtime, compile=compile, name=spec.name, source=spec,
                             offset_weight=spec.offset_weight if offset_weight is None else offset_weight)

    @classmethod
    def from_parts(cls, encoder: torch.nn.Module, tokenizer, *, template: Optional[str] = None,
                   aggregation: Optional[str] = None, max_length: int = 64, device: Optional[str] = None,
                   precision: str = "fp32", runtime: Optional[str] = None, compile: bool = False,
                   name: str = "from parts", offset_weight: Optional[float] = None,
                   source: Optional[ModelSpec] = None) -> "RelBERT":
        """A model from an fp32 Hugging Face encoder (``AutoModel``) and its fast tokenizer, in memory.
        Template, aggregation and λ default to the encoder config's ``relbert_config`` (else ``a``,
        ``average_no_mask``, 0); other arguments as in :meth:`from_pretrained`. Below fp32 an fp32 copy
        is kept for :meth:`save_pretrained`, unless ``source`` (where it was loaded from) can reload it;
        ``source`` also gives the model's bf16 validation, its name in reports and whether it is trained."""
        settings = resolve_settings(source, device, precision, runtime, compile, name=name)
        return cls._assemble(encoder, tokenizer, settings, template=template, aggregation=aggregation,
                             max_length=max_length, runtime=runtime, compile=compile, name=name,
                             offset_weight=offset_weight, source=source)

    @classmethod
    def _assemble(cls, encoder, tokenizer, settings: Settings, *, template, aggregation, max_length, runtime, compile,
                  name, offset_weight, source) -> "RelBERT":
        """The one construction: the parts put together under resolved ``settings``."""
        import copy

        stored = read_relbert_config(encoder.config)
        model = cls.__new__(cls)
        # a shipped delta keeps its relbert_config (and the default its display name) beside the encoder
        model.name_or_path, model.display_name = name, source.display_name if source is not None else name
        model.is_trained = source.is_trained if source is not None else stored["template"] is not None
        model._source = source
        #: The model's one spelling in records (:func:`relbert.models.loading.model_key`; the resolved
        #: name's, so the embedded default is recorded under its name, not its folder).
        model.key = source.key if source is not None else model_key(name)
        model.baseline = None  # a baseline's name in reports (relbert-eval --baseline vanilla)
        model.template = resolve_template(template or stored["template"] or DEFAULT_TEMPLATE)
        model.aggregation = check_aggregation(aggregation or stored["aggregation"] or DEFAULT_AGGREGATION)
        #: λ of the relation + offset vector (:mod:`relbert.offsets`); 0: the relation vector alone.
        model.offset_weight = check_offset_weight(stored_offset_weight(encoder.config) if offset_weight is None
                                                  else offset_weight)
        model.max_length = check_max_length(max_length, encoder.config)
        model.hf_tokenizer = check_pair_tokenizer(tokenizer, name)
        model.tokenizer = PairTokenizer(model.hf_tokenizer, model.template, model.aggregation, model.max_length)
        encoder.to(settings.device).eval()
        settle_precision(settings, encoder, model.tokenizer, name, runtime, compile)  # auto on a CPU: measured
        model._fp32_encoder = copy.deepcopy(encoder) if settings.precision != "fp32" and source is None else None
        model.device, model.precision, model.precision_reason = settings.device, settings.precision, settings.reason
        probe = model.tokenizer.encode([("paris", "france"), ("a washing machine", "laundry")])
        #: What runs (:class:`relbert.runtime.interface.Runtime`; ``runtime.name`` says which): the
        #: torch or the ONNX Runtime runtime, both giving pooled vectors; :attr:`encoder` is the HF module.
        model.runtime, model.encoder = build_encoder(
            encoder, probe, aggregation=model.aggregation, precision=settings.precision, runtime=settings.runtime,
            device=settings.device, compile=compile)
        return model

    @property
    def onnx(self):
        """The ONNX Runtime encoder when ``runtime="onnx"``, else None."""
        return self.runtime if self.runtime.name == "onnx" else None

    @property
    def mask_shortcut(self) -> Optional[MaskShortcut]:
        """The last layer at the mask token only (same vectors, fewer FLOPs), or None: the full forward.
        Setting None switches it off (torch runtime; the ONNX graph is fixed)."""
        return self.runtime.shortcut

    @mask_shortcut.setter
    def mask_shortcut(self, value: Optional[MaskShortcut]) -> None:
        self.runtime.shortcut = value

    @property
    def default_batch_size(self) -> Optional[int]:
        """Prompts per encoder call when ``embed`` is given none: 64 on torch on CPU, 32 on ONNX
        Runtime (the fastest measured; docs/performance.md), None on CUDA (a token budget fills them)."""
        return self.runtime.default_batch_size(self.device)

    @property
    def hidden_size(self) -> int:
        """The encoder's width: the dimension of the relation part of a vector."""
        return int(self.encoder.config.hidden_size)

    @property
    def dimension(self) -> int:
        """Width of :meth:`embed`'s vectors: the encoder's, twice that with an offset weight."""
        return self.hidden_size * (2 if self.offset_weight > 0 else 1)

    def kind(self) -> VectorKind:
        """What makes these vectors (:class:`relbert.embedding.kind.VectorKind`): every record's."""
        return VectorKind.of(self)

    def describe(self) -> Dict[str, Optional[str]]:
        """Metadata for evaluation reports: the vectors' :meth:`kind`, under the model's display name,
        with the runtime and why its precision."""
        return {**self.kind().record(), "model": self.display_name, "baseline": self.baseline,
                "runtime": self.runtime.name, "precision_reason": self.precision_reason}

    def relbert_config(self) -> Dict[str, object]:
        """The official ``relbert_config`` block (:func:`relbert.models.loading.relbert_config_block`)."""
        return relbert_config_block(self.template, self.aggregation, self.offset_weight)

    def save_pretrained(self, save_directory: Union[str, Path], state_dict: Optional[Dict[str, torch.Tensor]] = None) -> None:
        """A standalone checkpoint the official package also loads (:func:`relbert.models.saving.save_model`):
        config with ``relbert_config``, tokenizer, safetensors weights (fp32; ``state_dict`` replaces them)."""
        from .models.saving import save_model

        save_model(self, save_directory, state_dict)

    def embed(self, pairs: Sequence[Pair], *, batch_size: Optional[int] = None, normalize: bool = True,
              show_progress: bool = False) -> np.ndarray:
        """Relation vectors of word pairs; with an :attr:`offset_weight`, relation + offset vectors
        (:mod:`relbert.offsets`: the word offset ``w_tail - w_head`` beside the relation vector).

        Args:
            pairs: ``(head, tail)`` pairs; words may contain spaces. One pair alone gives one vector.
            batch_size: prompts per encoder call; default :attr:`default_batch_size`. Batches are cut
                from length-sorted prompts and padded to their own longest row.
            normalize: L2-normalize rows (dot product = cosine). False returns the raw masked sum,
                the official package's vector (beside ``sqrt(offset_weight) * unit(offset)``).
            show_progress: show a progress bar on stderr.

        Returns:
            float32 ``(len(pairs), dimension)``; row i belongs to ``pairs[i]``; duplicates computed once.

        Raises:
            ValueError: a pair is not two non-empty strings, or a prompt exceeds ``max_length``.
        """
        if _is_one_pair(pairs):
            return self.embed([tuple(pairs)], batch_size=batch_size, normalize=normalize)[0]
        prompts, inverse = self.prompts(pairs)
        return self.embed_prompts(prompts, batch_size=batch_size, normalize=normalize,
                                  show_progress=show_progress)[inverse]

    def prompts(self, pairs: Sequence[Pair]) -> Tuple[Prompts, np.ndarray]:
        """``(prompts of the distinct pairs, each pair's row among them)``: every pair checked, each
        distinct pair tokenized once (a prompt over ``max_length`` is an error)."""
        pairs = [_check_pair(p) for p in pairs]
        index: Dict[Pair, int] = {}
        inverse = np.fromiter((index.setdefault(p, len(index)) for p in pairs), dtype=np.int64, count=len(pairs))
        return Prompts.of_pairs(list(index), self.tokenizer), inverse

    def embed_prompts(self, prompts: Prompts, *, batch_size: Optional[int] = None, normalize: bool = True,
                      show_progress: bool = False, on_rows: Optional[Callable[[int], None]] = None,
                      runtime=None) -> np.ndarray:
        """Vectors of prepared prompts (row i: prompt i): the one entry below :meth:`embed`.
        ``on_rows(n)`` after each batch of n prompts; with an offset weight the prompts' words give
        the offset part (asked of ``prompts`` only then). ``runtime``: another runtime of this
        model's encoder (default :attr:`runtime`)."""
        words = prompts.word_spans() if self.offset_weight > 0 else None
        if self.offset_weight > 0 and words is None:
            raise OptionError("this model has an offset weight: its prompts need their words (Prompts.words)")
        relation, offset = relation_and_offset(self, prompts.ids, prompts.offsets, words, batch_size, normalize,
                                               show_progress, on_rows, runtime)
        return relation if offset is None else combine(relation, offset, self.offset_weight, normalize)

    def encode(self, pairs, batch_size: Optional[int] = None, normalize_embeddings: bool = True,
               show_progress_bar: bool = False, convert_to_numpy: bool = True, convert_to_tensor: bool = False,
               device: Optional[str] = None, precision: str = "float32"):
        """:meth:`embed` under sentence-transformers' names (:func:`encoded`: tensors, devices, precisions)."""
        return encoded(self.embed(pairs, batch_size=batch_size, normalize=normalize_embeddings,
                                  show_progress=show_progress_bar), convert_to_numpy, convert_to_tensor, device, precision)

    def get_embedding(self, x, batch_size: Optional[int] = None) -> np.ndarray:
        """The official package's ``get_embedding``: raw (unnormalized) vectors, ``(dimension,)`` for one pair."""
        return self.embed(x if _is_one_pair(x) else [tuple(p) for p in x], batch_size=batch_size, normalize=False)

    def __repr__(self) -> str:
        name = template_name(self.template) or repr(self.template)
        return f"RelBERT({self.name_or_path!r}, template={name}, aggregation={self.aggregation!r}, device={str(self.device)!r})"


#: ``encode``'s output precisions (sentence-transformers' names; its int8/binary quantizations are
#: calibrated on sentence vectors and not offered here).
ENCODE_PRECISIONS = ("float32", "float16")


def encoded(vectors: np.ndarray, convert_to_numpy: bool = True, convert_to_tensor: bool = False,
            device: Optional[str] = None, precision: str = "float32"):
    """``encode``'s output from :meth:`RelBERT.embed`'s vectors, as sentence-transformers gives it:
    numpy by default; a torch tensor with ``convert_to_tensor=True`` (or ``convert_to_numpy=False``),
    on ``device`` when given; ``precision`` ``"float32"`` or ``"float16"`` (half the memory)."""
    if precision not in ENCODE_PRECISIONS:
        raise OptionError(f"encode: precision {precision!r}: choose one of {', '.join(ENCODE_PRECISIONS)} (the "
                          "model's own compute precision is from_pretrained(precision=...))")
    vectors = vectors.astype(np.float16) if precision == "float16" else vectors
    if not (convert_to_tensor or not convert_to_numpy):
        if device is not None:
            raise OptionError("encode: device= places a tensor: give convert_to_tensor=True with it")
        return vectors
    tensor = torch.from_numpy(np.ascontiguousarray(vectors))
    return tensor.to(device) if device is not None else tensor


def _is_one_pair(x) -> bool:
    """``("paris", "france")`` (two strings), as opposed to a sequence of pairs."""
    return isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(w, str) for w in x)
