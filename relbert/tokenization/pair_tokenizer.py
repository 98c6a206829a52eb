"""Fused template tokenization: word pairs -> model-ready batches.

Every RelBERT prompt is the same template around two words, so the template is tokenized
once (into fixed token runs and word slots) and each distinct word once per slot context.
A pair's ids are then a concatenation of cached pieces.

Correctness rule: the ids are always exactly those the Hugging Face tokenizer gives for the
full prompt string. The fast path is used only where that is guaranteed (the word is
separated from the template text around it by whitespace, or by punctuation next to a
letter or digit, and contains no special-token text); every other pair is tokenized as a
full prompt string. The construction is verified on probe pairs when the tokenizer is
built; if verification fails, every pair takes the full-prompt path.

Two interchangeable backends implement :class:`PairTokenizer`'s work: the compiled
``relbert._C`` (from ``csrc/``) where it was built, and the pure-Python one here.
"""
from __future__ import annotations

import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ModelLoadError, OptionError, PairError, PromptTooLongError
from ..templates import check_aggregation, resolve_template
from .python_encoder import _PROBES, PythonPairEncoder

Pair = Tuple[str, str]


def _hf_tokenizer(name_or_path: str, **kwargs):
    from transformers import AutoTokenizer

    return check_pair_tokenizer(AutoTokenizer.from_pretrained(name_or_path, **kwargs), name_or_path)


def check_pair_tokenizer(tok, name: str):
    """``tok`` if RelBERT can use it (a fast tokenizer with a mask token), else a one-line
    :class:`ModelLoadError` naming ``name``."""
    if not getattr(tok, "is_fast", False):
        raise ModelLoadError(f"{name}: a fast (tokenizers-backed) tokenizer is required")
    if tok.mask_token is None:
        raise ModelLoadError(f"{name}: the tokenizer has no mask token; RelBERT needs a masked LM tokenizer")
    return tok


class PairTokenizer:
    """Turns word pairs into padded model inputs for one template and aggregation.

    Attributes:
        implementation: ``"cpp"`` when the compiled ``relbert._C`` encoder is used, else ``"python"``.
        template: the template string.
        aggregation: ``"mask"``, ``"average"`` or ``"average_no_mask"``.
        max_length: prompts longer than this are an error (never truncated).
    """

    def __init__(self, hf_tokenizer, template: str = "a", aggregation: str = "average_no_mask", max_length: int = 64,
                 implementation: Optional[str] = None):
        self.hf_tokenizer = hf_tokenizer
        self.template = resolve_template(template)
        self.aggregation = check_aggregation(aggregation)
        self.max_length = int(max_length)
        self.pad_token_id = hf_tokenizer.pad_token_id if hf_tokenizer.pad_token_id is not None else 0
        self.mask_token_id = hf_tokenizer.mask_token_id
        from ..runtime.torch_runtime import Pooling

        #: The pooling: which positions ``pool_mask`` selects (the C++ core selects the same by id).
        self.pooling = Pooling(self.aggregation, self.mask_token_id, self.pad_token_id)
        self._encoder = PythonPairEncoder(hf_tokenizer, self.template)
        self._cpp = None
        if implementation in (None, "cpp"):
            from .compiled import pair_encoder

            self._cpp = pair_encoder(self._encoder, self.aggregation, self.pad_token_id, self.mask_token_id)
            if self._cpp is not None and not self._verify_cpp():
                warnings.warn("relbert: the C++ tokenizer disagrees with the reference on probe pairs; "
                              "using the Python tokenizer", stacklevel=2)
                self._cpp = None
            if implementation == "cpp" and self._cpp is None:
                raise RuntimeError("implementation='cpp' requested but relbert._C is unavailable for this tokenizer")
        elif implementation != "python":
            raise OptionError(f"unknown tokenizer implementation {implementation!r}: choose 'cpp' or 'python' "
                             "(None = the compiled one where available)")
        #: Which implementation tokenizes: ``"cpp"`` (``relbert._C``) or ``"python"`` (same ids).
        self.implementation = "cpp" if self._cpp is not None else "python"

    @property
    def cache_size(self) -> int:
        """Words in the word cache now (at most :attr:`max_cached_words`)."""
        return self._cpp.cache_size() if self._cpp is not None else sum(map(len, self._encoder._cache))

    @property
    def max_cached_words(self) -> int:
        """Bound of the word cache; when full it starts over. Settable."""
        return self._cpp.max_words if self._cpp is not None else self._encoder.max_words

    @max_cached_words.setter
    def max_cached_words(self, value: int) -> None:
        if value < 2:
            raise OptionError(f"max_cached_words must be at least 2, got {value}")
        self._encoder.max_words = int(value)
        if self._cpp is not None:
            self._cpp.max_words = int(value)

    def _verify_cpp(self) -> bool:
        probes = [list(p) for p in _PROBES]
        got = self._cpp.encode(probes, self._encoder._full_ids, self.pad_token_id)
        return got["input_ids"].tolist() == self.pad(self._encoder.token_ids(_PROBES))["input_ids"].tolist()

    @classmethod
    def from_pretrained(
        cls, name_or_path: str, template: str = "a", aggregation: str = "average_no_mask", max_length: int = 64,
        implementation: Optional[str] = None, **kwargs
    ) -> "PairTokenizer":
        """Load the tokenizer files of a Hugging Face model name or folder.

        Args:
            name_or_path: model name or local folder with tokenizer files.
            template: paper template name (``"a"``..``"e"``) or custom template string.
            aggregation: pooling mode, decides ``pool_mask``.
            max_length: longest allowed prompt in tokens.
            implementation: ``"cpp"``, ``"python"``, or None for the compiled one where available.
            **kwargs: passed to ``transformers.AutoTokenizer.from_pretrained``.
        """
        return cls(_hf_tokenizer(str(name_or_path), **kwargs), template, aggregation, max_length, implementation)

    def token_ids(self, pairs: Sequence[Pair]) -> List[List[int]]:
        """Unpadded ids of each pair's prompt; raises ValueError for prompts over ``max_length``."""
        pairs = [_check_pair(p) for p in pairs]
        ids = self._encoder.token_ids(pairs)
        self._check_lengths(pairs, np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)))
        return ids

    def _check_lengths(self, pairs: Sequence[Pair], lengths: np.ndarray) -> None:
        over = np.flatnonzero(lengths > self.max_length)
        if len(over):
            raise PromptTooLongError({tuple(pairs[i]): int(lengths[i]) for i in over}, self.max_length)

    def lengths(self, pairs: Sequence[Pair]) -> np.ndarray:
        """Token count of each pair's prompt (for length-sorted batching)."""
        if self._cpp is not None:
            pairs = pairs if isinstance(pairs, list) else list(pairs)
            lengths = self._cpp.lengths(pairs, self._encoder._full_ids)
            self._check_lengths(pairs, lengths)
            return lengths
        return np.fromiter((len(x) for x in self.token_ids(pairs)), dtype=np.int64, count=len(pairs))

    def pad(self, ids: Sequence[Sequence[int]]) -> Dict[str, np.ndarray]:
        """Pad unpadded id lists to the longest and derive the attention and pool masks."""
        flat, offsets = _flatten(ids)
        return self.pad_rows(flat, offsets, np.arange(len(ids)))

    def pool_mask(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Positions pooled by the aggregation (:meth:`relbert.runtime.torch_runtime.Pooling.positions`)."""
        return self.pooling.positions(input_ids, attention_mask)

    def encode_flat(self, pairs: Sequence[Pair]) -> Tuple[np.ndarray, np.ndarray]:
        """Every pair's ids, tokenized once and checked against ``max_length``, in one flat array.

        Returns:
            ``(ids, offsets)``: int32 ids where pair i is ``ids[offsets[i]:offsets[i + 1]]``, and
            int64 offsets of shape ``(len(pairs) + 1,)``. :meth:`pad_rows` builds batches from them.
        """
        pairs = pairs if isinstance(pairs, list) else list(pairs)
        if self._cpp is not None:
            ids, offsets = self._cpp.flat_ids(pairs, self._encoder._full_ids)
            self._check_lengths(pairs, np.diff(offsets))
            return ids, offsets
        return _flatten(self.token_ids(pairs))  # token_ids checks the lengths

    def encode_words(self, words: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each word alone, as the Hugging Face tokenizer gives it with its special tokens (the
        ``diff`` baseline's input and the offset part of a relation + offset vector).

        Returns:
            ``(ids, offsets, pooled)``: int32 ids where word i is ``ids[offsets[i]:offsets[i + 1]]``,
            int64 offsets ``(len(words) + 1,)``, and uint8 ``pooled`` beside ``ids``: 1 for the
            word's own tokens (the tokenizer's special-tokens mask is 0), the positions averaged.
        """
        words = list(words)
        if not words:
            return np.zeros(0, np.int32), np.zeros(1, np.int64), np.zeros(0, np.uint8)
        enc = self.hf_tokenizer(words, add_special_tokens=True, return_special_tokens_mask=True,
                                return_attention_mask=False)
        ids, offsets = _flatten(enc["input_ids"])
        special, _ = _flatten(enc["special_tokens_mask"])
        return ids, offsets, (special == 0).astype(np.uint8)

    def pad_word_rows(self, ids: np.ndarray, offsets: np.ndarray, pooled: np.ndarray, rows: np.ndarray,
                      width_multiple: int = 1) -> Dict[str, np.ndarray]:
        """A padded batch of the given rows of :meth:`encode_words`'s output; ``pool_mask`` selects
        each word's own tokens (their sum, divided by the count, is the word vector)."""
        batch = self.pad_rows(ids, offsets, rows, width_multiple)
        where = batch["attention_mask"].astype(bool)
        starts = offsets[rows]
        pool = np.zeros_like(batch["attention_mask"])
        pool[where] = pooled[(starts[:, None] + np.arange(where.shape[1])[None, :])[where]]
        batch["pool_mask"] = pool
        return batch

    def pad_rows(self, ids: np.ndarray, offsets: np.ndarray, rows: np.ndarray,
                 width_multiple: int = 1) -> Dict[str, np.ndarray]:
        """A padded batch (as :meth:`encode`) of the given rows of :meth:`encode_flat`'s output;
        the width is the longest row rounded up to ``width_multiple`` (never past ``max_length``
        unless the longest row already is)."""
        starts = offsets[rows]
        lengths = offsets[rows + 1] - starts
        width = int(lengths.max()) if len(rows) else 0
        if width_multiple > 1 and width:
            width = max(width, min(-(-width // width_multiple) * width_multiple, self.max_length))
        attention = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
        input_ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        where = attention.astype(bool)
        input_ids[where] = ids[(starts[:, None] + np.arange(width)[None, :])[where]]
        return {"input_ids": input_ids, "attention_mask": attention, "pool_mask": self.pool_mask(input_ids, attention),
                "lengths": lengths}

    def encode(self, pairs: Sequence[Pair]) -> Dict[str, np.ndarray]:
        """Encode pairs into ``input_ids``, ``attention_mask`` and ``pool_mask``.

        Args:
            pairs: ``(head, tail)`` word pairs.

        Returns:
            A dict of int64 arrays ``input_ids``, ``attention_mask``, ``pool_mask`` of shape
            ``(len(pairs), longest prompt)`` and ``lengths`` of shape ``(len(pairs),)``.
        """
        if self._cpp is not None:
            pairs = pairs if isinstance(pairs, list) else list(pairs)
            batch = self._cpp.encode(pairs, self._encoder._full_ids, self.pad_token_id)
            self._check_lengths(pairs, batch["lengths"])
            return batch
        return self.pad(self.token_ids(pairs))


def _flatten(rows: Sequence[Sequence[int]]) -> Tuple[np.ndarray, np.ndarray]:
    """``(ids, offsets)`` of id lists: int32 ids where row i is ``ids[offsets[i]:offsets[i + 1]]``."""
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    ids = np.fromiter((t for r in rows for t in r), dtype=np.int32, count=int(offsets[-1]))
    return ids, offsets


def _check_pair(pair) -> Pair:
    if isinstance(pair, str) or len(pair) != 2:
        raise PairError(f"a word pair must be two strings (head, tail), got {pair!r}")
    head, tail = pair
    if not isinstance(head, str) or not isinstance(tail, str):
        raise PairError(f"a word pair must be two strings (head, tail), got {pair!r}")
    if not head.strip() or not tail.strip():
        raise PairError(f"empty word in pair {pair!r}")
    return head, tail
