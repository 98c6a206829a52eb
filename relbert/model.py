"""The RelBERT model: a masked-LM encoder + prompt template + pooling -> relation vectors.

Finding and loading what a model is made of (names, folders, the pickled-weights check,
devices) is :mod:`relbert.loading`; this module is the :class:`RelBERT` class: load, embed, save.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .loading import (  # noqa: F401  (their earlier home: these names stay importable from here)
    DEFAULT_AGGREGATION, DEFAULT_NAME, DEFAULT_TEMPLATE, ModelNotFoundError, ModelSpec, UnsafeCheckpointError,
    attention_implementation, check_device, check_hub_reachable, check_pickled_weights, default_model_path,
    load_encoder, load_pair_tokenizer, locate_model, quiet_transformers, read_relbert_config, resolve_device,
    resolve_model, resolve_model_folder, start_cuda)
from .mask_shortcut import MaskShortcut
from .offsets import WordSpans, combine
from .onnx_backend import OnnxEncoder
from .pipeline import CUDA_TOKEN_BUDGET, CUDA_WIDTH_MULTIPLE, EmbedLoop, batch_rows, plan_batches
from .runtime import BACKENDS, PRECISIONS, RUNTIMES, build_encoder, resolve_backend, resolve_runtime  # noqa: F401
from .templates import OptionError, check_aggregation, resolve_template, template_name  # noqa: F401
from .tokenization import ModelLoadError, PairTokenizer, _check_pair, _hf_tokenizer  # noqa: F401

Pair = Tuple[str, str]


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
        offset_weight: Optional[float] = None,
    ):
        from .shipping import apply_delta

        if backend is not None:
            _earlier_name("backend=", "runtime=")
        runtime = runtime or backend
        spec = resolve_model(name_or_path, template, aggregation)
        resolved = resolve_device(device)
        precision, reason = _precision(precision, resolved, runtime, bool((spec.shipped or {}).get("bf16_validated")),
                                       name_or_path)
        runtime = resolve_runtime(runtime, precision, resolved, compile)
        check_device(resolved, device)  # after the option checks: those are about what was asked

        cuda_ready = start_cuda(resolved)  # the CUDA context is created while the tokenizer and weights load
        hf_tokenizer = _hf_tokenizer(spec.path)
        encoder = load_encoder(spec.path, spec.config)
        if spec.shipped:
            apply_delta(encoder, spec.delta_dir)  # the fine-tuned tensors shipped in the package
        if cuda_ready is not None:
            cuda_ready.join()
        self._assemble(encoder, hf_tokenizer, template=spec.template, aggregation=spec.aggregation,
                       max_length=max_length, device=resolved, precision=precision, runtime=runtime, compile=compile,
                       offset_weight=spec.offset_weight if offset_weight is None else offset_weight)
        self._spec = spec  # where the fp32 weights come from (save_pretrained of a reduced-precision model)
        self.is_trained = spec.is_trained
        self.name_or_path = spec.name
        #: Name shown in reports: the given name, or the embedded default's.
        self.display_name = spec.display_name
        #: Why this precision runs (``precision="auto"``: bf16 where the hardware computes it
        #: natively and the model's bf16 validation is within 1 point of fp32, else fp32).
        self.precision_reason = reason

    @classmethod
    def from_parts(cls, encoder: torch.nn.Module, tokenizer, *, template: Optional[str] = None,
                   aggregation: Optional[str] = None, max_length: int = 64, device: Optional[str] = None,
                   precision: str = "fp32", runtime: Optional[str] = None, compile: bool = False,
                   name: str = "from parts", offset_weight: Optional[float] = None) -> "RelBERT":
        """A model built from an fp32 Hugging Face encoder (``AutoModel``) and its fast tokenizer,
        already in memory: no name is resolved and nothing is read from disk.

        Template, aggregation and offset weight default to the encoder config's ``relbert_config``
        block, else template ``a``, ``average_no_mask`` and 0; the other arguments are as in
        :meth:`from_pretrained`. ``precision="auto"`` picks bf16 only where the hardware computes
        it natively; a model built at another precision than fp32 keeps an fp32 copy of the
        encoder for :meth:`save_pretrained`.
        """
        import copy

        from .loading import stored_offset_weight
        from .tokenization import check_pair_tokenizer

        stored = read_relbert_config(encoder.config)
        resolved = resolve_device(device)
        precision, reason = _precision(precision, resolved, runtime, False, None)
        runtime = resolve_runtime(runtime, precision, resolved, compile)
        check_device(resolved, device)
        model = cls.__new__(cls)
        model._spec = None
        model._fp32_encoder = copy.deepcopy(encoder) if precision != "fp32" else None
        model._assemble(encoder, check_pair_tokenizer(tokenizer, name),
                        template=resolve_template(template or stored["template"] or DEFAULT_TEMPLATE),
                        aggregation=check_aggregation(aggregation or stored["aggregation"] or DEFAULT_AGGREGATION),
                        max_length=max_length, device=resolved, precision=precision, runtime=runtime, compile=compile,
                        offset_weight=stored_offset_weight(encoder.config) if offset_weight is None else offset_weight)
        model.is_trained = stored["template"] is not None
        model.name_or_path = model.display_name = name
        model.precision_reason = reason
        return model

    def _assemble(self, encoder: torch.nn.Module, hf_tokenizer, *, template: str, aggregation: str, max_length: int,
                  device: torch.device, precision: str, runtime: str, compile: bool, offset_weight: float) -> None:
        """The parts put together: the pair tokenizer and the runtime that runs ``encoder``."""
        from .offsets import check_offset_weight

        self.template, self.aggregation = template, aggregation
        #: λ of the relation + offset vector (:mod:`relbert.offsets`); 0: the relation vector alone.
        self.offset_weight = check_offset_weight(offset_weight)
        self.max_length = int(max_length)
        self.device, self.precision = device, precision
        #: ``"torch"`` or ``"onnx"``: what runs the encoder (``backend`` is its earlier name).
        self.runtime = runtime
        self.hf_tokenizer = hf_tokenizer
        self.tokenizer = PairTokenizer(hf_tokenizer, template, aggregation, self.max_length)
        encoder.to(device).eval()
        probe = self.tokenizer.encode([("paris", "france"), ("a washing machine", "laundry")])
        #: What runs (:class:`relbert.runtime.Runtime`): a :class:`relbert.encoder.TorchEncoder`
        #: or an ONNX Runtime :class:`relbert.onnx_backend.OnnxEncoder`; both give pooled vectors.
        self.pooled_encoder, self.encoder = build_encoder(
            encoder, probe, aggregation=aggregation, precision=precision, runtime=runtime, device=device,
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
    def onnx(self) -> Optional["OnnxEncoder"]:
        """The ONNX Runtime encoder when ``runtime="onnx"``, else None."""
        return self.pooled_encoder if self.runtime == "onnx" else None

    @property
    def mask_shortcut(self) -> Optional[MaskShortcut]:
        """The last encoder layer evaluated at the mask token only (``mask`` pooling, BERT-family
        encoders, checked at load on the encoder that runs), or None for the full forward. Same
        vectors, fewer FLOPs. Setting None switches it off (torch runtime; the ONNX graph is fixed)."""
        return self.pooled_encoder.shortcut

    @mask_shortcut.setter
    def mask_shortcut(self, value: Optional[MaskShortcut]) -> None:
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
        offset_weight: Optional[float] = None,
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
            offset_weight: λ >= 0 of the relation + offset vector (:mod:`relbert.offsets`): each
                pair's vector also carries the encoder's word offset ``w_tail - w_head``, weighted
                so that cosines are ``(cos_relation + λ cos_offset) / (1 + λ)``, at twice the
                width. None (default): the model's stored value (``relbert_config["offset_weight"]``;
                the named models ship one chosen on validation), 0 for a model without one.
                0: the relation vector alone.
        """
        return cls(name_or_path, template=template, aggregation=aggregation, max_length=max_length, device=device,
                   precision=precision, compile=compile, runtime=runtime, backend=backend, offset_weight=offset_weight)

    @property
    def default_batch_size(self) -> Optional[int]:
        """Prompts per encoder call when ``embed`` is given none: 64 on torch on CPU, 32 on ONNX
        Runtime (the faster of the sizes measured for each; docs/performance.md), and None on CUDA:
        there batches are filled up to :data:`relbert.pipeline.CUDA_TOKEN_BUDGET` padded tokens."""
        return self.pooled_encoder.default_batch_size(self.device)

    @property
    def hidden_size(self) -> int:
        """The encoder's width: the dimension of the relation part of a vector."""
        return int(self.encoder.config.hidden_size)

    @property
    def dimension(self) -> int:
        """Dimension of the vectors :meth:`embed` returns: the encoder's width, twice that with an
        offset weight (relation part, then offset part)."""
        return self.hidden_size * (2 if self.offset_weight > 0 else 1)

    def describe(self) -> Dict[str, Optional[str]]:
        """Metadata for evaluation reports (``backend``: the earlier name of ``runtime``, kept for readers)."""
        return {"model": self.display_name, "baseline": None, "template": self.template, "aggregation": self.aggregation,
                "offset_weight": self.offset_weight, "precision": self.precision, "runtime": self.runtime,
                "backend": self.runtime}

    def relbert_config(self) -> Dict[str, object]:
        """The ``relbert_config`` block in the official package's current form; with an offset
        weight, ``offset_weight`` beside it (the official package reads the first two and embeds
        the relation part). λ = 0 writes exactly the official block."""
        block: Dict[str, object] = {"aggregation_mode": self.aggregation, "template": self.template}
        if self.offset_weight > 0:
            block["offset_weight"] = self.offset_weight
        return block

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

            if self._spec is None:  # built from parts: the fp32 copy kept then
                encoder = self._fp32_encoder
            else:
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
        """Relation vectors of word pairs; with an :attr:`offset_weight`, relation + offset vectors
        (:mod:`relbert.offsets`: the word offset ``w_tail - w_head`` beside the relation vector).

        Args:
            pairs: ``(head, tail)`` pairs; words may contain spaces. One pair alone
                (``("paris", "france")``) gives a ``(dimension,)`` vector.
            batch_size: prompts per encoder call; default :attr:`default_batch_size` (64 on
                torch on CPU, 32 on ONNX Runtime: the fastest measured; on CUDA, as many prompts
                as fit a token budget). Batches are cut from length-sorted prompts and padded only
                to their own longest row (on CUDA, rounded up to a multiple of 8 tokens).
            normalize: L2-normalize rows (dot product = cosine). False returns the raw masked
                sum, the official package's vector (with an offset weight, beside
                ``sqrt(offset_weight) * unit(offset)``).
            show_progress: show a progress bar on stderr.

        Returns:
            float32 array of shape ``(len(pairs), dimension)``; row i belongs to ``pairs[i]``.
            Duplicate pairs are computed once and get identical rows.

        Raises:
            ValueError: a pair is not two non-empty strings, or a prompt exceeds ``max_length``.
        """
        return self.embed_with(self.pooled_encoder, pairs, batch_size=batch_size, normalize=normalize,
                               show_progress=show_progress)

    def embed_with(self, pooled_encoder, pairs: Sequence[Pair], *, batch_size: Optional[int] = None,
                   normalize: bool = True, show_progress: bool = False) -> np.ndarray:
        """:meth:`embed` through another runtime of this model's encoder (training validates through
        its frozen-layer cache this way: :class:`relbert.training.frozen.FrozenEmbedder`)."""
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if _is_one_pair(pairs):
            return self.embed_with(pooled_encoder, [tuple(pairs)], batch_size=batch_size, normalize=normalize)[0]
        pairs = [_check_pair(p) for p in pairs]
        index: Dict[Pair, int] = {}
        inverse = np.fromiter((index.setdefault(p, len(index)) for p in pairs), dtype=np.int64, count=len(pairs))
        distinct = list(index)
        ids, offsets = self.tokenizer.encode_flat(distinct)  # each distinct pair tokenized once, validated
        words = WordSpans.of_pairs(distinct, self.tokenizer) if self.offset_weight > 0 else None
        return self.embed_token_ids(ids, offsets, batch_size=batch_size, normalize=normalize,
                                    show_progress=show_progress, words=words, pooled_encoder=pooled_encoder)[inverse]

    def embed_token_ids(self, ids: np.ndarray, offsets: np.ndarray, *, batch_size: Optional[int] = None,
                        normalize: bool = True, show_progress: bool = False,
                        on_rows: Optional[Callable[[int], None]] = None,
                        words: Optional["WordSpans"] = None, pooled_encoder=None) -> np.ndarray:
        """Vectors of prompts already tokenized by :meth:`PairTokenizer.encode_flat`.

        Prompts are length-sorted and cut into batches padded to their own longest row; row i
        of the result belongs to prompt i (``ids[offsets[i]:offsets[i + 1]]``). ``on_rows(n)``
        is called after each batch of n prompts (a caller's progress bar). With an offset
        weight, ``words`` (:class:`relbert.offsets.WordSpans`: each prompt's head and tail
        among distinct words) gives the offset part; the words run through the same loop first.
        ``pooled_encoder``: the runtime to run (default :attr:`pooled_encoder`).
        """
        if self.offset_weight > 0 and words is None:
            raise ValueError("this model has an offset weight: pass words= (relbert.offsets.WordSpans) with the prompts")
        relation, offset = self._parts(ids, offsets, words if self.offset_weight > 0 else None, batch_size=batch_size,
                                       normalize=normalize, show_progress=show_progress, on_rows=on_rows,
                                       pooled_encoder=pooled_encoder)
        return relation if offset is None else combine(relation, offset, self.offset_weight, normalize)

    def embed_parts(self, pairs: Sequence[Pair], *, batch_size: Optional[int] = None,
                    show_progress: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """The two parts of the relation + offset vector, apart: ``(relation, offset)``, each
        ``(len(pairs), hidden_size)``: the unit relation vectors and the raw word offsets
        ``w_tail - w_head``, whatever this model's offset weight.
        :func:`relbert.offsets.combine` ``(relation, offset, λ)`` gives the vector at any λ
        (``relbert-eval choose-offset`` scores a grid of λ from one pass)."""
        pairs = [_check_pair(p) for p in pairs]
        ids, offsets = self.tokenizer.encode_flat(pairs)
        return self._parts(ids, offsets, WordSpans.of_pairs(pairs, self.tokenizer), batch_size=batch_size,
                           normalize=True, show_progress=show_progress)

    def _parts(self, ids: np.ndarray, offsets: np.ndarray, words: Optional["WordSpans"], *,
               batch_size: Optional[int], normalize: bool, show_progress: bool = False,
               on_rows: Optional[Callable[[int], None]] = None, pooled_encoder=None
               ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """``(relation vectors of the prompts, word offsets w_tail - w_head or None without words)``:
        the words (each distinct one once) and then the prompts through the one loop."""
        batch_size = self.default_batch_size if batch_size is None else batch_size
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        offset = None
        if words is not None:
            vectors = self.embed_words(words, batch_size=batch_size, pooled_encoder=pooled_encoder)
            offset = vectors[words.tail] - vectors[words.head]
        from .progress import progress_bar

        with progress_bar(show_progress, total=len(offsets) - 1, unit="pair", desc="embedding") as bar:
            def on_batch(count):
                bar.update(count)
                if on_rows is not None:
                    on_rows(count)

            relation = self._run_loop(ids, offsets, self.tokenizer.pad_rows, batch_size, normalize, on_batch,
                                      pooled_encoder)
        return relation, offset

    def embed_words(self, words: "WordSpans", *, batch_size: Optional[int] = None, pooled_encoder=None) -> np.ndarray:
        """``(words.count, hidden_size)`` word vectors: each word alone with the tokenizer's special
        tokens, the mean of its own tokens' last hidden states (the ``diff`` baseline's vector),
        through the same runtime and loop as the prompts."""
        batch_size = self.default_batch_size if batch_size is None else batch_size

        def prepare(ids, offsets, rows, width_multiple):
            return self.tokenizer.pad_word_rows(ids, offsets, words.pooled, rows, width_multiple)

        summed = self._run_loop(words.ids, words.offsets, prepare, batch_size, False, None, pooled_encoder)
        counts = np.add.reduceat(words.pooled.astype(np.float32), words.offsets[:-1]) if words.count else \
            np.zeros(0, np.float32)
        counts[np.diff(words.offsets) == 0] = 0  # reduceat repeats an element for empty spans
        return summed / np.maximum(counts, 1)[:, None]

    def _run_loop(self, ids: np.ndarray, offsets: np.ndarray, pad, batch_size: Optional[int], normalize: bool,
                  on_batch, pooled_encoder=None) -> np.ndarray:
        """The one embed loop over rows of flat ids: length-sorted batches, ``pad(ids, offsets,
        rows, width_multiple)`` builds each, the runtime pools it; ``(rows, hidden_size)``."""
        n = len(offsets) - 1
        lengths = np.diff(offsets)
        order = np.argsort(lengths, kind="stable")
        out = np.empty((n, self.hidden_size), dtype=np.float32)
        width_multiple = CUDA_WIDTH_MULTIPLE if self.device.type == "cuda" else 1
        ranges = plan_batches(lengths[order], batch_size, CUDA_TOKEN_BUDGET, width_multiple)
        runtime = self.pooled_encoder if pooled_encoder is None else pooled_encoder

        def prepare(rows):  # pad one length-sorted batch
            return pad(ids, offsets, rows, width_multiple)

        def forward(input_ids, attention_mask, pool_mask, one_position):
            return runtime(input_ids, attention_mask, pool_mask, normalize=normalize, one_position=one_position)

        EmbedLoop(prepare, forward, self.device, workers=runtime.workers).run(batch_rows(order, ranges), out, on_batch)
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
        single = _is_one_pair(x)
        pairs: List[Pair] = [tuple(x)] if single else [tuple(p) for p in x]
        vectors = self.embed(pairs, batch_size=batch_size, normalize=False)
        return vectors[0] if single else vectors

    def __repr__(self) -> str:
        name = template_name(self.template) or repr(self.template)
        return f"RelBERT({self.name_or_path!r}, template={name}, aggregation={self.aggregation!r}, device={str(self.device)!r})"


def _precision(precision: str, device: torch.device, runtime: Optional[str], validated: bool, name) -> Tuple[str, str]:
    """The precision to run and why (``auto`` resolved), checked against the known precisions and
    what a named model refuses."""
    from .named_models import NAMED_MODELS
    from .precision import choose_precision

    precision, reason = choose_precision(precision, device.type, model_validated=validated, runtime=runtime)
    if precision not in PRECISIONS:
        raise OptionError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    named = NAMED_MODELS.get(str(name)) if name is not None else None
    refused = dict(named.refused_precisions) if named is not None else {}
    if precision in refused:
        raise OptionError(f"{named.name}: {refused[precision]}")
    return precision, reason


def _is_one_pair(x) -> bool:
    """``("paris", "france")`` (two strings), as opposed to a sequence of pairs."""
    return isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(w, str) for w in x)


def _earlier_name(old: str, new: str) -> None:
    """One FutureWarning per earlier name (one concept, one name; the old one still works for now)."""
    import warnings

    warnings.warn(f"{old} is deprecated and will be removed in relbert 0.3: use {new}", FutureWarning, stacklevel=3)
