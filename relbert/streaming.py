"""Streaming bulk embedding: one planning read, bounded memory, kill-safe resume, torchrun sharding.

1. **Plan** (rank 0; needs only the tokenizer, so it runs before the model loads): one read of
   the input validates every line, counts and fingerprints it, finds duplicates through a
   bounded LRU cache of ``cache_size`` pairs, and tokenizes each first occurrence once (the
   length check included). Beside the output it writes the *plan* (``source[i]`` = ``i`` for a
   row to embed, or the earlier row whose pair it repeats) and the token ids.
2. **Embed**: rows are cut into fixed chunks of ``chunk_size``; chunk c is embedded by rank
   ``c % world_size`` from the stored ids (the input is not read again) and written into the
   preallocated ``.npy`` with positioned writes, so no page of the output stays mapped in the
   process. After each chunk a progress file records it atomically.
3. **Finish** (rank 0): duplicate rows copy their first occurrence; the ``.npy`` is renamed
   into place, or a second read of the input pairs the rows with their text for the npz and
   word2vec writers (:mod:`relbert.formats`).

Chunks and batches depend only on the input and the options, so a resumed run and a sharded
run write bit-for-bit what one uninterrupted process writes. Memory is bounded by the chunk,
the LRU cache and the tokenizer's word cache, whatever the number of rows or distinct words.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from .errors import InputError, NonFiniteError, ResumeError
from .embedding.unknown_words import UnknownWords
from .io import pair_lines, replace_file

Pair = Tuple[str, str]
#: Layout of the files beside the output; a --resume across versions that changed it is refused.
STREAM_VERSION = 3
_PLAN_BLOCK = 16384  # lines tokenized together while planning


@dataclass(frozen=True)
class StreamOptions:
    """What decides the output's bits (with the model): see ``relbert-embed --help``."""

    batch_size: Optional[int] = None  # None: the model's default
    normalize: bool = True
    chunk_size: int = 16384  # at most; see effective_chunk
    cache_size: int = 100_000
    fmt: str = "npy"


#: The smallest chunk a run is cut into by default (a few seconds of work on any model).
SMALLEST_CHUNK = 1024


def effective_chunk(rows: int, rows_per_chunk: int) -> int:
    """The rows a chunk (the unit saved, resumed and shared among processes) holds:
    ``rows_per_chunk`` at most, and small enough that a run saves its progress at least every
    quarter of the way (never below :data:`SMALLEST_CHUNK` rows, unless asked)."""
    return int(min(rows_per_chunk, max(SMALLEST_CHUNK, -(-rows // 4))))


@dataclass(frozen=True)
class Shard:
    """This process's place under torchrun: chunk c belongs to rank ``c % world_size``."""

    rank: int = 0
    world_size: int = 1

    def barrier(self) -> None:
        if self.world_size > 1:
            from .runtime import distributed

            distributed.barrier()


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


# --- 1. plan ------------------------------------------------------------------------------------
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
    from .errors import PromptTooLongError

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


def model_fingerprint(model, options: StreamOptions) -> str:
    """Hash of what decides the output bits: model identity, parameter checksums, options."""
    import torch

    # the chunk size is not part of it: a resumed run takes the interrupted run's, from its state
    chosen = {k: v for k, v in asdict(options).items() if k != "chunk_size"}
    described = {**model.describe(), **chosen, "device": model.device.type, "stream": STREAM_VERSION}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    with torch.no_grad():
        for name, tensor in model.encoder.named_parameters():  # (int8 weights are packed, not parameters)
            digest.update(f"{name}{tuple(tensor.shape)}{float(tensor.double().sum()):.12e}".encode())
    return digest.hexdigest()


def input_fingerprint(path: Path) -> Tuple[int, str]:
    """(rows, sha256) of the input, for --resume."""
    digest = hashlib.sha256()
    rows = 0
    with open(path, "rb") as handle:
        for raw in handle:
            digest.update(raw)
            rows += bool(raw.strip())  # as planned: blank lines at the end are not rows (none inside passed)
    return rows, digest.hexdigest()


def _write_json_atomic(path: Path, data) -> None:
    from .io import write_json_atomic  # the package's one way to replace a file whole (fsync, rename, the user's mode)

    write_json_atomic(path, data)


# --- the run ------------------------------------------------------------------------------------
class EmbedRun:
    """One ``relbert-embed`` run over ``pairs_path`` into ``output`` (see the module doc).

    Use: ``run = EmbedRun(pairs_path, output, options, shard)``; ``run.plan(tokenizer)`` (before
    the model loads; resumes keep the earlier plan), then ``run.embed(model)``.

    Args:
        pairs_path: the pairs file (a real file: the npz/word2vec writers read it again).
        output: the file to create; it appears (by rename) only when complete.
        options: :class:`StreamOptions`.
        shard: :class:`Shard` under torchrun.
        resume: continue an interrupted run; refuses a changed input, model or options.
        source_name: the name used in error messages (``-`` for standard input).
        show_progress: a progress bar (rank 0) with the row total.
    """

    def __init__(self, pairs_path: Path, output: Path, options: StreamOptions = StreamOptions(), shard: Shard = Shard(),
                 *, resume: bool = False, source_name: Optional[str] = None, show_progress: bool = False,
                 strict: bool = False):
        self.pairs_path = Path(pairs_path)
        self.output = Path(output)
        self.options = options
        self.shard = shard
        self.resume = resume
        self.source_name = source_name or str(pairs_path)
        #: The pairs with a word the model cannot read, found while planning (strict: the first stops the run).
        self.unknown = UnknownWords(self.source_name, strict)
        self.show_progress = show_progress and shard.rank == 0
        target = self.output if options.fmt == "npy" else self.output.with_name(f".{self.output.name}.vectors.npy")
        self.files = WorkFiles(target)
        self.rows: Optional[int] = None
        #: Rows embedded by this process so far (saved or not): what an interruption reports.
        self.embedded = 0

    # 1. plan
    def plan(self, tokenizer) -> int:
        """Plan (rank 0; or check the saved plan on --resume); returns the number of rows."""
        files = self.files
        if self.resume and not (files.state.is_file() and files.partial.is_file()):
            self.resume = False  # killed before its first record: nothing to continue, start afresh
        if self.shard.rank == 0:
            if self.resume:
                state = read_state(files.state)
                if state.get("stream") != STREAM_VERSION:
                    raise ResumeError("--resume: the interrupted run was made by another version of relbert; "
                                      "start again without --resume")
                if input_fingerprint(self.pairs_path) != (state["rows"], state["input_sha256"]):
                    raise ResumeError(f"--resume: {self.source_name} changed since the interrupted run; "
                                      "start again without --resume")
                self._state = state
            else:
                files.remove()
                try:
                    rows, digest = plan_input(self.pairs_path, tokenizer, files, self.options.cache_size,
                                              self.source_name, self.unknown)
                except BaseException:
                    files.remove()  # a bad line (or an interrupt) while planning leaves nothing behind
                    raise
                self._state = {"rows": rows, "input_sha256": digest, "stream": STREAM_VERSION,
                               "chunk": effective_chunk(rows, self.options.chunk_size)}
        self.shard.barrier()
        if self.shard.rank != 0:
            return -1  # the other ranks read the plan after rank 0 has written its state
        self.rows = self._state["rows"]
        return self.rows

    # 2. embed and 3. finish
    def embed(self, model) -> int:
        """Embed every planned row with ``model`` and write the output; returns the row count."""
        files, options, shard = self.files, self.options, self.shard
        options = StreamOptions(**{**asdict(options), "batch_size": options.batch_size or model.default_batch_size})
        fingerprint = model_fingerprint(model, options)
        if shard.rank == 0:
            if self.resume:
                if self._state.get("model") != fingerprint:
                    raise ResumeError("--resume: the model or its options changed since the interrupted run "
                                      "(same --model, --template, --aggregation, --offset-weight, --batch-size, "
                                      "--no-normalize needed)")
            else:
                _create_npy(files.partial, self._state["rows"], model.dimension)
                _write_json_atomic(files.state, {**self._state, "model": fingerprint})
        shard.barrier()
        state = json.loads(files.state.read_text())
        rows, hidden = state["rows"], model.dimension
        done = self._done()
        chunk = self._chunk(state)
        n_chunks = (rows + chunk - 1) // chunk
        mine = [c for c in range(n_chunks) if c % shard.world_size == shard.rank and c not in done]
        bar = None
        if self.show_progress:
            from .progress import progress_bar

            finished = sum(min(chunk, rows - c * chunk) for c in done)
            bar = progress_bar(total=rows, initial=finished, unit="pair", desc="embedding", dynamic_ncols=True)
        def on_rows(count: int) -> None:  # per batch: the bar, and what an interruption would lose
            self.embedded += count
            if bar is not None:
                bar.update(count)

        try:
            offset = _npy_data_offset(files.partial)
            fd = os.open(files.partial, os.O_RDWR)
            try:
                for c in mine:
                    self._embed_chunk(model, options, fd, offset, c, rows, hidden, chunk, on_rows)
                    self._record_done(c)
                shard.barrier()
                if shard.rank == 0:
                    missing = set(range(n_chunks)) - self._done()
                    if missing:
                        raise RuntimeError(f"chunks {sorted(missing)[:5]} were not embedded")
                    _copy_duplicates(fd, offset, files.plan, rows, hidden, chunk)
                    os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            if bar is not None:
                bar.close()
        if shard.rank == 0:
            self._finish(rows, hidden, offset)
        shard.barrier()
        return rows

    @property
    def chunk_rows(self) -> int:
        """Rows per chunk of this run (a resumed run's are the interrupted run's)."""
        state = getattr(self, "_state", None)
        if state is None and self.files.state.is_file():
            state = json.loads(self.files.state.read_text())
        return self._chunk(state or {"chunk": self.options.chunk_size})

    def _chunk(self, state: dict) -> int:
        """This run's chunk (runs planned before chunks adapted to the input recorded none)."""
        return int(state.get("chunk", self.options.chunk_size))

    def _embed_chunk(self, model, options: StreamOptions, fd: int, offset: int, c: int, rows: int, hidden: int,
                     size: int, on_rows=None) -> None:
        files = self.files
        start, stop = c * size, min(rows, (c + 1) * size)
        plan = np.fromfile(files.plan, dtype=np.int64, count=stop - start, offset=8 * start)
        spans = np.fromfile(files.offsets, dtype=np.int64, count=stop - start + 1, offset=8 * start)
        first = np.flatnonzero(plan == np.arange(start, stop))
        block = np.zeros((stop - start, hidden), np.float32)  # duplicates are filled at the end
        if len(first):
            ids = np.fromfile(files.ids, dtype=np.int32, count=int(spans[-1] - spans[0]), offset=4 * int(spans[0]))
            local = spans - spans[0]
            starts = np.zeros(len(first) + 1, np.int64)
            np.cumsum(local[first + 1] - local[first], out=starts[1:])
            gathered = np.concatenate([ids[local[k]:local[k + 1]] for k in first])
            words = self._words(first, start, stop) if model.offset_weight > 0 else None
            block[first] = model.embed_token_ids(gathered, starts, batch_size=options.batch_size,
                                                 normalize=options.normalize, on_rows=on_rows, words=words)
            finite = np.isfinite(block[first]).all(axis=1)
            if not finite.all():  # NaN never enters a file: the run stops here and leaves nothing
                line = start + int(first[np.argmin(finite)]) + 1
                raise NonFiniteError(f"{self.source_name}:{line}: the model gave a non-finite vector (NaN or inf) "
                                     f"at precision {model.precision}; nothing was written (try --precision fp32)")
        _pwrite_all(fd, block.tobytes(), offset + 4 * hidden * start)
        if on_rows is not None and stop - start > len(first):
            on_rows(stop - start - len(first))  # repeated pairs: copied at the end, counted now

    def _words(self, first: np.ndarray, start: int, stop: int):
        """The head and tail of rows ``start + first`` from the plan, each distinct word once."""
        from .offsets import WordSpans

        files = self.files
        spans = np.fromfile(files.word_offsets, dtype=np.int64, count=2 * (stop - start) + 1, offset=16 * start)
        count, at = int(spans[-1] - spans[0]), int(spans[0])
        ids = np.fromfile(files.words, dtype=np.int32, count=count, offset=4 * at)
        pooled = np.fromfile(files.word_pooled, dtype=np.uint8, count=count, offset=at)
        local = spans - spans[0]
        both = np.stack([2 * first, 2 * first + 1], axis=1).ravel()  # head, tail of each row
        offsets = np.zeros(len(both) + 1, np.int64)
        np.cumsum(local[both + 1] - local[both], out=offsets[1:])
        take = np.concatenate([np.arange(local[k], local[k + 1]) for k in both])
        return WordSpans.of_token_spans(ids[take], offsets, pooled[take])

    def _finish(self, rows: int, hidden: int, offset: int) -> None:
        files, fmt = self.files, self.options.fmt
        if fmt == "npy":
            replace_file(files.partial, self.output)
        else:
            from .formats import write_npz, write_word2vec
            from .io import iter_pairs

            vectors = _RowReader(files.partial, offset, rows, hidden)
            if fmt == "npz":
                write_npz(vectors, iter_pairs(self.pairs_path), self.output)
            else:
                self.repeated_keys = write_word2vec(vectors, iter_pairs(self.pairs_path), self.output)
        files.remove()

    def saved_rows(self) -> int:
        """Rows whose vectors are saved (what --resume keeps after an interruption)."""
        if not self.files.state.is_file():
            return 0
        state = json.loads(self.files.state.read_text())
        rows, chunk = state["rows"], self._chunk(state)
        return sum(min(chunk, rows - c * chunk) for c in self._done())

    def abandon(self) -> None:
        """After a failure: remove the work files unless they hold resumable progress (a saved chunk)."""
        if not (self.files.state.is_file() and self._done()):
            self.files.remove()

    def _done(self) -> set:
        """Chunks finished so far, merged from every rank's own progress file."""
        done = set()
        for path in self.files.rank_files():
            done.update(json.loads(path.read_text()))
        return done

    def _record_done(self, index: int) -> None:
        """Add a finished chunk to this rank's progress file (atomically; ranks never share a file)."""
        path = self.files.state.with_name(f"{self.files.state.name}.rank{self.shard.rank}")
        done = json.loads(path.read_text()) if path.is_file() else []
        _write_json_atomic(path, done + [index])


# --- positioned I/O on the .npy -----------------------------------------------------------------
def read_state(path: Path) -> dict:
    """An interrupted run's progress record, or a one-line ResumeError naming it when it is damaged."""
    try:
        state = json.loads(path.read_text())
        if isinstance(state, dict) and isinstance(state.get("rows"), int) and "input_sha256" in state:
            return state
        problem = "not a progress record"
    except (OSError, ValueError) as err:
        problem = str(err).splitlines()[0]
    raise ResumeError(f"--resume: {path} is damaged ({problem}); start again without --resume")


def _create_npy(path: Path, rows: int, hidden: int) -> None:
    """An ``.npy`` of ``rows x hidden`` float32 zeros (sparse on disk): header, then the size set."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (rows, hidden)})
        handle.truncate(handle.tell() + 4 * rows * hidden)


def _npy_data_offset(path: Path) -> int:
    with open(path, "rb") as handle:
        major, _ = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        read_header(handle)
        return handle.tell()


def _pwrite_all(fd: int, data: bytes, position: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, position)
        view, position = view[written:], position + written


def _copy_duplicates(fd: int, offset: int, plan_path: Path, rows: int, hidden: int, block: int) -> None:
    """Each duplicate row gets its first occurrence's bytes (positioned reads and writes)."""
    width = 4 * hidden
    for start in range(0, rows, block):
        sources = np.fromfile(plan_path, dtype=np.int64, count=min(block, rows - start), offset=8 * start)
        for k in np.flatnonzero(sources != np.arange(start, start + len(sources))):
            row = os.pread(fd, width, offset + width * int(sources[k]))
            _pwrite_all(fd, row, offset + width * (start + int(k)))


class _RowReader:
    """Rows of the finished ``.npy`` read on demand (``reader[a:b]``), never mapped."""

    def __init__(self, path: Path, offset: int, rows: int, hidden: int):
        self.path, self.offset, self.shape = path, offset, (rows, hidden)

    def __getitem__(self, index: slice) -> np.ndarray:
        start, stop, _ = index.indices(self.shape[0])
        count = max(0, stop - start) * self.shape[1]
        data = np.fromfile(self.path, dtype=np.float32, count=count, offset=self.offset + 4 * self.shape[1] * start)
        return data.reshape(-1, self.shape[1])

    def __array__(self, dtype=None, copy=None):
        return self[:]
