"""A model's two vector parts through the one embed loop: the relation vectors of its prompts and
the word vectors behind the word offsets (:mod:`relbert.offsets`).

``model`` here is a :class:`relbert.RelBERT` (its ``runtime``, ``tokenizer``, ``hidden_size``,
``device`` and ``default_batch_size``); ``runtime`` replaces its runtime (training validates
through its frozen-layer cache this way).
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np

from ..errors import OptionError
from ..offsets import WordSpans
from .embed_loop import embed_rows


def word_vectors(model, words: WordSpans, *, batch_size: Optional[int] = None, runtime=None) -> np.ndarray:
    """``(words.count, hidden_size)``: each word alone with the tokenizer's special tokens, the mean
    of its own tokens' last hidden states, through the same runtime and loop as the prompts."""
    def pad(ids, offsets, rows, width_multiple):
        return model.tokenizer.pad_word_rows(ids, offsets, words.pooled, rows, width_multiple)

    return words.means(loop(model, words.ids, words.offsets, pad, batch_size, False, None, runtime))


def relation_and_offset(model, ids: np.ndarray, offsets: np.ndarray, words: Optional[WordSpans],
                        batch_size: Optional[int], normalize: bool, show_progress: bool = False,
                        on_rows: Optional[Callable[[int], None]] = None,
                        runtime=None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """``(relation vectors of the prompts, word offsets w_tail - w_head or None without words)``:
    the words (each distinct one once) and then the prompts through the one loop."""
    from ..progress import progress_bar

    if batch_size is not None and batch_size < 1:
        raise OptionError(f"batch_size must be positive, got {batch_size}")
    offset = None
    if words is not None:
        vectors = word_vectors(model, words, batch_size=batch_size, runtime=runtime)
        offset = vectors[words.tail] - vectors[words.head]
    with progress_bar(show_progress, total=len(offsets) - 1, unit="pair", desc="embedding") as bar:
        def on_batch(count):
            bar.update(count)
            if on_rows is not None:
                on_rows(count)

        relation = loop(model, ids, offsets, model.tokenizer.pad_rows, batch_size, normalize, on_batch, runtime)
    return relation, offset


def loop(model, ids, offsets, pad, batch_size, normalize, on_batch, runtime=None) -> np.ndarray:
    """The one embed loop (:func:`relbert.runtime.embed_loop.embed_rows`) with the model's runtime and batch size."""
    return embed_rows(model.runtime if runtime is None else runtime, ids, offsets, pad,
                      width=model.hidden_size, device=model.device,
                      batch_size=model.default_batch_size if batch_size is None else batch_size,
                      normalize=normalize, on_batch=on_batch)


def parts(model, pairs, *, batch_size: Optional[int] = None,
          show_progress: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """``(relation, offset)`` of ``pairs`` apart, each ``(len(pairs), hidden_size)``: unit relation
    vectors and raw word offsets, whatever the model's λ; :func:`relbert.offsets.combine` gives any
    λ from them (relbert-eval choose-offset scores a grid this way)."""
    prompts, inverse = model.prompts(pairs)
    relation, offset = relation_and_offset(model, prompts.ids, prompts.offsets, prompts.word_spans(), batch_size,
                                           True, show_progress)
    return relation[inverse], offset[inverse]
