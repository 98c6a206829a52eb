"""Tokenized prompts ready for the model: what ``RelBERT.embed_prompts`` takes.

A :class:`Prompts` holds the prompts' token ids (row i is ``ids[offsets[i]:offsets[i + 1]]``, as
:meth:`PairTokenizer.encode_flat` gives them) and, for the offset part of a relation + offset
vector, the pairs' words (:class:`relbert.offsets.WordSpans`) or a function that reads them. The
words are asked for only by a model with an offset weight, so a caller (a streamed run, a
training step) never has to know the model's λ.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np

from ..offsets import WordSpans

Pair = Tuple[str, str]


@dataclass
class Prompts:
    """Prompts as token ids, with their pairs' words on demand."""

    ids: np.ndarray  # int32 token ids of every prompt, concatenated
    offsets: np.ndarray  # int64, rows + 1: prompt i is ids[offsets[i]:offsets[i + 1]]
    words: Union[None, WordSpans, Callable[[], WordSpans]] = None  # the head and tail of each prompt

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    def word_spans(self) -> Optional[WordSpans]:
        """The prompts' words (read now where a function was given), or None where none were given."""
        if callable(self.words):
            self.words = self.words()
        return self.words

    @classmethod
    def of_pairs(cls, pairs: Sequence[Pair], tokenizer) -> "Prompts":
        """``pairs`` (already checked) tokenized by ``tokenizer`` (a :class:`PairTokenizer`); their
        words are tokenized only if asked for."""
        ids, offsets = tokenizer.encode_flat(pairs)
        return cls(ids, offsets, lambda: WordSpans.of_pairs(pairs, tokenizer))
