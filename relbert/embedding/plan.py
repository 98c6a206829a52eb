"""The plan of an embed run: one read of the input, then its prompts read back by row range.

:func:`plan_input` (rank 0; needs only the tokenizer, so it runs before the model loads) reads
the input once: it validates every line, counts and fingerprints it, finds duplicates through a
bounded LRU cache, and tokenizes each first occurrence once (the length check included), writing
beside the output the *plan* (``source[i]`` = ``i`` for a row to embed, or the earlier row whose
pair it repeats), the prompts' token ids and each first occurrence's two words alone (the offset
part of a relation + offset vector). :class:`PlanReader` gives back the prompts of a row range
(:class:`relbert.tokenization.Prompts`, their words read only if the model asks).
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from contextlib import suppress
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from ..errors import InputError
from ..io import pair_lines

Pair = Tuple[str, str]
_PLAN_BLOCK = 16384  # lines tokenized together while planning


class WorkFiles:
    """The files kept beside ``output`` while a run is unfinished (all start with ``.NAME.``)."""

    def __init__(self, output: Path):
        self.output = Path(output)
        stem = f".{self.output.name}"
        self.partial = self.output.with_name(f"{stem}.partial.npy")  # the vectors, filled chunk by chunk
        self.plan = self.output.with_name(f"{stem}.plan.bin")  # int64 per row: its source row
        self.ids = self.output.with_name(f"{stem}.ids.bin")  # int32 token ids of first occurrences
        self.offsets = self.output.with_name(f"{stem}.offsets.bin")  # int64 per row + 1: spans in ids
        # each first occurrence's head and tail alone (relbert.offsets: the offset part of a vector)
        self.words = self.output.with_name(f"{stem}.words.bin")  # int32 token ids, two words a row
        self.word_pooled = self.output.with_name(f"{stem}.words-pooled.bin")  # uint8 beside them: a word's own token
        self.word_offsets = self.output.with_name(f"{stem}.word-offsets.bin")  # int64, 2 per row + 1: spans in words
        self.state = self.output.with_name(f"{stem}.progress.json")

    def rank_files(self) -> List[Path]:
        return sorted(self.state.parent.glob(f"{self.state.name}.rank*"))

    def all(self) -> List[Path]:
        return [self.partial, self.plan, self.ids, self.offsets, self.words, self.word_pooled, self.word_offsets,
                self.state, *self.rank_files()]

    def remove(self) -> None:
        for path in self.all():
            with suppress(FileNotFoundError):
                path.unlink()


def plan_input(path: Path, tokenizer, files: WorkFiles, cache_size: int, source_name: Optional[str] = None,
               unknown=None) -> Tuple[int, str]:
    """Validate, count, fingerprint, dedupe and tokenize ``path`` in one read; returns (rows, sha256).

    Writes, block by block: the plan (int64 source row per row), the token ids of first
    occurrences (int32) and the offsets of each row's ids (int64, rows + 1; duplicates have an
    empty span), and the same for each first occurrence's two words alone (the offset part of
    a relation + offset vector; two spans a row). Memory is one block of lines plus the bounded
    duplicate cache.

    Raises:
        InputError: ``FILE:LINE: why`` for a malformed line or a prompt over ``max_length``
            (``source_name`` replaces the path in messages, e.g. ``-`` for standard input).

    ``unknown`` (a :class:`relbert.unknown_words.UnknownWords`) collects the pairs with a word the
    model cannot read (or, strict, stops at the first).
    """
    from ..errors import PromptTooLongError

    name = source_name or str(path)
    digest = hashlib.sha256()
    lru: "OrderedDict[Pair, int]" = OrderedDict()
    rows = 0
    with open(path, "rb") as handle, open(files.plan, "wb") as plan_out, open(files.ids, "wb") as ids_out, \
            open(files.offsets, "wb") as offsets_out, open(files.words, "wb") as words_out, \
            open(files.word_pooled, "wb") as pooled_out, open(files.word_offsets, "wb") as word_offsets_out:
        id_count = word_count = 0
        offsets_out.write(np.zeros(1, np.int64).tobytes())
        word_offsets_out.write(np.zeros(1, np.int64).tobytes())

        def flush(start: int, sources: List[int], pending: List[Tuple[int, Pair]]) -> None:
            """Tokenize a block's first occurrences; write its plan, ids and offsets."""
            nonlocal id_count, word_count
            try:
                ids, offsets = tokenizer.encode_flat([p for _, p in pending])
            except PromptTooLongError as err:
                row = next(r for r, p in pending if p in err.lengths)
                raise InputError(name, row + 1, str(err)) from None
            firsts = np.asarray([r - start for r, _ in pending], np.int64)
            span = np.zeros(len(sources), np.int64)  # duplicates: empty spans
            span[firsts] = np.diff(offsets)
            plan_out.write(np.asarray(sources, np.int64).tobytes())
            ids_out.write(ids.astype(np.int32).tobytes())
            offsets_out.write((id_count + np.cumsum(span)).tobytes())
            id_count += len(ids)
            words, word_offsets, pooled = tokenizer.encode_words([w for _, p in pending for w in p])
            if unknown is not None:
                unknown.check_block([r for r, _ in pending], [p for _, p in pending], words, word_offsets, pooled,
                                    tokenizer.hf_tokenizer.unk_token_id)
            word_span = np.zeros((len(sources), 2), np.int64)
            word_span[firsts] = np.diff(word_offsets).reshape(-1, 2)
            words_out.write(words.astype(np.int32).tobytes())
            pooled_out.write(pooled.astype(np.uint8).tobytes())
            word_offsets_out.write((word_count + np.cumsum(word_span.ravel())).tobytes())
            word_count += len(words)

        start, sources, pending = 0, [], []  # this block: first row, every row's source, first occurrences
        row = -1
        for raw, pair in pair_lines(handle, name):
            digest.update(raw)
            if pair is None:  # a blank line at the end: not a row
                continue
            row += 1
            first = lru.get(pair)
            if first is None:
                sources.append(row)
                pending.append((row, pair))
                lru[pair] = row
                if len(lru) > cache_size:
                    lru.popitem(last=False)
            else:
                sources.append(first)
                lru.move_to_end(pair)
            rows = row + 1
            if rows - start == _PLAN_BLOCK:
                flush(start, sources, pending)
                start, sources, pending = rows, [], []
        if sources:
            flush(start, sources, pending)
    if rows == 0:  # before the model loads: an empty output would only hide the mistake
        raise InputError(name, 1, "no pairs: the file is empty (expected head<TAB>tail lines)")
    return rows, digest.hexdigest()


def input_fingerprint(path: Path) -> Tuple[int, str]:
    """(rows, sha256) of the input, for --resume."""
    digest = hashlib.sha256()
    rows = 0
    with open(path, "rb") as handle:
        for raw in handle:
            digest.update(raw)
            rows += bool(raw.strip())  # as planned: blank lines at the end are not rows (none inside passed)
    return rows, digest.hexdigest()


class PlanReader:
    """The planned prompts of a row range, read back from the plan's files (never the input)."""

    def __init__(self, files: WorkFiles):
        self.files = files

    def sources(self, start: int, stop: int) -> np.ndarray:
        """Each row's source row (itself, or the earlier row whose pair it repeats)."""
        return np.fromfile(self.files.plan, dtype=np.int64, count=stop - start, offset=8 * start)

    def prompts(self, start: int, stop: int):
        """``(first, prompts)``: the rows of ``start:stop`` that are first occurrences (relative to
        ``start``) and their :class:`~relbert.tokenization.Prompts` (words read on demand)."""
        from ..offsets import gather_spans
        from ..tokenization.prompts import Prompts

        files = self.files
        first = np.flatnonzero(self.sources(start, stop) == np.arange(start, stop))
        spans = np.fromfile(files.offsets, dtype=np.int64, count=stop - start + 1, offset=8 * start)
        ids = np.fromfile(files.ids, dtype=np.int32, count=int(spans[-1] - spans[0]), offset=4 * int(spans[0]))
        offsets, take = gather_spans(spans - spans[0], first)
        return first, Prompts(ids[take], offsets, lambda: self.words(first, start, stop))

    def words(self, first: np.ndarray, start: int, stop: int):
        """The head and tail of rows ``start + first``, each distinct word once (:class:`~relbert.offsets.WordSpans`)."""
        from ..offsets import WordSpans, gather_spans

        files = self.files
        spans = np.fromfile(files.word_offsets, dtype=np.int64, count=2 * (stop - start) + 1, offset=16 * start)
        count, at = int(spans[-1] - spans[0]), int(spans[0])
        ids = np.fromfile(files.words, dtype=np.int32, count=count, offset=4 * at)
        pooled = np.fromfile(files.word_pooled, dtype=np.uint8, count=count, offset=at)
        both = np.stack([2 * first, 2 * first + 1], axis=1).ravel()  # head, tail of each row
        offsets, take = gather_spans(spans - spans[0], both)
        return WordSpans.of_token_spans(ids[take], offsets, pooled[take])

