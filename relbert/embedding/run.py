"""An embed run: bounded memory, kill-safe resume, torchrun sharding (``relbert-embed``).

1. **Plan** (:mod:`relbert.embedding.plan`, rank 0, before the model loads).
2. **Embed**: rows are cut into fixed chunks; chunk c is embedded by rank ``c % world_size`` from
   the plan (the input is not read again) and written into the output (:mod:`relbert.embedding.writer`).
   After each chunk the rank's progress file records it atomically (:class:`RunState`).
3. **Finish** (rank 0): duplicates copied, the output renamed into place or written in its format.

Chunks and batches depend only on the input and the options, so a resumed run and a sharded run
write bit for bit what one uninterrupted process writes. Memory is bounded by the chunk, the LRU
cache and the tokenizer's word cache, whatever the number of rows or distinct words.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import NonFiniteError, ResumeError
from .plan import PlanReader, WorkFiles, input_fingerprint, plan_input
from .state import STREAM_VERSION, RunState, model_fingerprint
from .unknown_words import UnknownWords
from .writer import RowReader, copy_duplicates, create_npy, npy_data_offset, pwrite_all


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
            from ..runtime import distributed

            distributed.barrier()


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
        strict: a word the model cannot read stops the run (else the pairs are counted in a note).
    """

    def __init__(self, pairs_path: Path, output: Path, options: StreamOptions = StreamOptions(), shard: Shard = Shard(),
                 *, resume: bool = False, source_name: Optional[str] = None, show_progress: bool = False,
                 strict: bool = False):
        self.pairs_path, self.output, self.options, self.shard = Path(pairs_path), Path(output), options, shard
        self.resume = resume
        self.source_name = source_name or str(pairs_path)
        #: The pairs with a word the model cannot read, found while planning (strict: the first stops the run).
        self.unknown = UnknownWords(self.source_name, strict)
        self.show_progress = show_progress and shard.rank == 0
        target = self.output if options.fmt == "npy" else self.output.with_name(f".{self.output.name}.vectors.npy")
        self.files = WorkFiles(target)
        self.state = RunState(self.files)
        self.rows: Optional[int] = None
        #: Rows embedded by this process so far (saved or not): what an interruption reports.
        self.embedded = 0
        #: Rows whose key a word2vec output already held (written once), after the run.
        self.repeated_keys = 0

    def plan(self, tokenizer) -> int:
        """Plan (rank 0; or check the saved plan on --resume); returns the number of rows."""
        files = self.files
        if self.resume and not (files.state.is_file() and files.partial.is_file()):
            self.resume = False  # killed before its first record: nothing to continue, start afresh
        if self.shard.rank == 0:
            if self.resume:
                self.state = RunState.read(files)
                if self.state.record.get("stream") != STREAM_VERSION:
                    raise ResumeError("--resume: the interrupted run was made by another version of relbert; "
                                      "start again without --resume")
                if input_fingerprint(self.pairs_path) != (self.state.rows, self.state.record["input_sha256"]):
                    raise ResumeError(f"--resume: {self.source_name} changed since the interrupted run; "
                                      "start again without --resume")
            else:
                files.remove()
                try:
                    rows, digest = plan_input(self.pairs_path, tokenizer, files, self.options.cache_size,
                                              self.source_name, self.unknown)
                except BaseException:
                    files.remove()  # a bad line (or an interrupt) while planning leaves nothing behind
                    raise
                self.state = RunState(files, {"rows": rows, "input_sha256": digest, "stream": STREAM_VERSION,
                                              "chunk": effective_chunk(rows, self.options.chunk_size)})
        self.shard.barrier()
        if self.shard.rank != 0:
            return -1  # the other ranks read the plan after rank 0 has written its state
        self.rows = self.state.rows
        return self.rows

    def embed(self, model) -> int:
        """Embed every planned row with ``model`` and write the output; returns the row count."""
        files, shard = self.files, self.shard
        options = StreamOptions(**{**asdict(self.options),
                                   "batch_size": self.options.batch_size or model.default_batch_size})
        fingerprint = model_fingerprint(model, options)
        if shard.rank == 0:
            if self.resume:
                if self.state.record.get("model") != fingerprint:
                    raise ResumeError("--resume: the model or its options changed since the interrupted run "
                                      "(same --model, --template, --aggregation, --offset-weight, --batch-size, "
                                      "--no-normalize needed)")
            else:
                create_npy(files.partial, self.state.rows, model.dimension)
                self.state.record["model"] = fingerprint
                self.state.save()
        shard.barrier()
        state = self.state = RunState.read(files)
        rows, width, chunk = state.rows, model.dimension, state.chunk
        done = state.done()
        mine = [c for c in range(state.chunks()) if c % shard.world_size == shard.rank and c not in done]
        bar = None
        if self.show_progress:
            from ..progress import progress_bar

            bar = progress_bar(total=rows, initial=state.rows_in(done), unit="pair", desc="embedding",
                               dynamic_ncols=True)

        def on_rows(count: int) -> None:  # per batch: the bar, and what an interruption would lose
            self.embedded += count
            if bar is not None:
                bar.update(count)

        try:
            offset = npy_data_offset(files.partial)
            fd = os.open(files.partial, os.O_RDWR)
            try:
                for c in mine:
                    self._embed_chunk(model, options, fd, offset, c, rows, width, chunk, on_rows)
                    self._record_done(c)
                shard.barrier()
                if shard.rank == 0:
                    missing = set(range(state.chunks())) - state.done()
                    if missing:
                        raise RuntimeError(f"chunks {sorted(missing)[:5]} were not embedded")
                    copy_duplicates(fd, offset, PlanReader(files).sources, rows, width, chunk)
                    os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            if bar is not None:
                bar.close()
        if shard.rank == 0:
            self._finish(rows, width, offset)
        shard.barrier()
        return rows

    @property
    def chunk_rows(self) -> int:
        """Rows per chunk of this run (a resumed run's are the interrupted run's)."""
        if self.state.record is None and self.files.state.is_file():
            self.state = RunState.read(self.files)
        return self.state.chunk if self.state.record is not None else self.options.chunk_size

    def _embed_chunk(self, model, options: StreamOptions, fd: int, offset: int, c: int, rows: int, width: int,
                     size: int, on_rows=None) -> None:
        """Chunk ``c`` (rows ``c * size`` up to ``rows``): its first occurrences embedded, written in place."""
        start, stop = c * size, min(rows, (c + 1) * size)
        first, prompts = PlanReader(self.files).prompts(start, stop)
        block = np.zeros((stop - start, width), np.float32)  # duplicates are filled at the end
        if len(first):
            block[first] = model.embed_prompts(prompts, batch_size=options.batch_size, normalize=options.normalize,
                                               on_rows=on_rows)
            finite = np.isfinite(block[first]).all(axis=1)
            if not finite.all():  # NaN never enters a file: the run stops here and leaves nothing
                line = start + int(first[np.argmin(finite)]) + 1
                raise NonFiniteError(f"{self.source_name}:{line}: the model gave a non-finite vector (NaN or inf) "
                                     f"at precision {model.precision}; nothing was written (try --precision fp32)")
        pwrite_all(fd, block.tobytes(), offset + 4 * width * start)
        if on_rows is not None and stop - start > len(first):
            on_rows(stop - start - len(first))  # repeated pairs: copied at the end, counted now

    def _finish(self, rows: int, width: int, offset: int) -> None:
        files, fmt = self.files, self.options.fmt
        if fmt == "npy":
            from ..atomic import replace_file

            replace_file(files.partial, self.output)
        else:
            from ..io import iter_pairs
            from .formats import write_npz, write_word2vec

            vectors = RowReader(files.partial, offset, rows, width)
            if fmt == "npz":
                write_npz(vectors, iter_pairs(self.pairs_path), self.output)
            else:
                self.repeated_keys = write_word2vec(vectors, iter_pairs(self.pairs_path), self.output)
        files.remove()

    def _record_done(self, index: int) -> None:
        """This rank has finished chunk ``index`` (recorded atomically in its own progress file)."""
        self.state.record_done(self.shard.rank, index)

    def saved_rows(self) -> int:
        """Rows whose vectors are saved (what --resume keeps after an interruption)."""
        if not self.files.state.is_file():
            return 0
        state = RunState.read(self.files)
        return state.rows_in(state.done())

    def abandon(self) -> None:
        """After a failure: remove the work files unless they hold resumable progress (a saved chunk)."""
        if not (self.files.state.is_file() and RunState(self.files).done()):
            self.files.remove()
