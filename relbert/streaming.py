"""Streaming bulk embedding: bounded memory, kill-safe resume, torchrun sharding.

The run has three passes over the input file:

1. **Plan** (every process, no model): validate every line, fingerprint the input, and build
   a *dedupe plan*: ``source[i]`` is ``i`` for a row to embed, or the earlier row ``j`` whose
   pair it repeats (found through a bounded LRU cache of ``cache_size`` pairs, so memory does
   not grow with N). The plan lives in a memory-mapped file beside the output.
2. **Embed**: rows are cut into fixed chunks of ``chunk_size``; chunk c is embedded by rank
   ``c % world_size`` (only its first-occurrence rows) and written into a preallocated,
   memory-mapped ``.npy``. After each chunk is flushed, a progress file records it atomically.
3. **Copy**: duplicate rows are copied from their first occurrence.

Because chunks and batches depend only on the input and the options, a resumed run and a
sharded run compute bit-for-bit what one uninterrupted process computes. On success the
output is renamed into place and the progress files are removed.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import OrderedDict
from contextlib import suppress
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np

from .io import iter_pairs, parse_pair_line

Pair = Tuple[str, str]


class ResumeError(ValueError):
    """--resume cannot continue: no progress file, or the input, model or options changed."""


def scan(path: Path, cache_size: int, plan_path: Path, check: Optional[Callable[[List[Pair], int], None]] = None,
         check_every: int = 16384) -> Tuple[int, str]:
    """Validate the input, fingerprint it and write the dedupe plan; returns (rows, sha256).

    ``check(pairs, first_line)`` is called on consecutive blocks of pairs (e.g. to reject
    prompts over max_length) before anything is written.
    """
    digest = hashlib.sha256()
    rows = 0
    block: List[Pair] = []
    with open(path, "rb") as handle:  # first: count rows and hash, validating every line
        for lineno, raw in enumerate(handle, start=1):
            block.append(parse_pair_line(raw, str(path), lineno))
            digest.update(raw)
            rows += 1
            if check is not None and len(block) == check_every:
                check(block, lineno - len(block) + 1)
                block = []
    if check is not None and block:
        check(block, rows - len(block) + 1)
    plan = np.lib.format.open_memmap(plan_path, mode="w+", dtype=np.int64, shape=(rows,))
    lru: "OrderedDict[Pair, int]" = OrderedDict()
    for i, pair in enumerate(iter_pairs(path)):
        first = lru.get(pair)
        if first is None:
            plan[i] = i
            lru[pair] = i
            if len(lru) > cache_size:
                lru.popitem(last=False)
        else:
            plan[i] = first
            lru.move_to_end(pair)
    plan.flush()
    del plan
    return rows, digest.hexdigest()


def model_fingerprint(model, options: dict) -> str:
    """Hash of what decides the output bits: model identity, parameter checksums, options."""
    import torch

    digest = hashlib.sha256(json.dumps({**model.describe(), **options}, sort_keys=True).encode())
    with torch.no_grad():
        for name, tensor in model.model.named_parameters():  # (int8 weights are packed, not parameters)
            digest.update(f"{name}{tuple(tensor.shape)}{float(tensor.double().sum()):.12e}".encode())
    return digest.hexdigest()


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _chunks(path: Path, chunk_size: int) -> Iterator[Tuple[int, List[Pair]]]:
    chunk: List[Pair] = []
    start = 0
    for pair in iter_pairs(path):
        chunk.append(pair)
        if len(chunk) == chunk_size:
            yield start, chunk
            start += len(chunk)
            chunk = []
    if chunk:
        yield start, chunk


def embed_file(
    model,
    pairs_path: Path,
    output: Path,
    *,
    batch_size: Optional[int] = None,
    normalize: bool = True,
    chunk_size: int = 16384,
    cache_size: int = 100_000,
    resume: bool = False,
    rank: int = 0,
    world_size: int = 1,
    barrier: Optional[Callable[[], None]] = None,
    progress: Optional[Callable[[int], None]] = None,
    check: Optional[Callable[[List[Pair], int], None]] = None,
) -> int:
    """Embed every line of ``pairs_path`` into ``output`` (``.npy``); see the module docstring.

    Args:
        model: a :class:`relbert.RelBERT`.
        pairs_path: the pairs file (a real file: it is read more than once).
        output: the ``.npy`` to create.
        batch_size: encoder batch size (None: the model's ``default_batch_size``).
        normalize: L2-normalize rows.
        chunk_size: rows per chunk (the unit of progress and of sharding).
        cache_size: pairs remembered for cross-chunk duplicate detection.
        resume: continue an interrupted run; refuses a changed input, model or options.
        rank, world_size, barrier: torch.distributed coordinates (barrier() syncs all ranks).
        progress: called with the number of rows finished by this process, chunk by chunk.
        check: validation of blocks of pairs during the plan pass (see :func:`scan`).

    Returns:
        The number of rows written.
    """
    barrier = barrier or (lambda: None)
    output = Path(output)
    partial = output.with_name(f".{output.name}.partial.npy")
    plan_path = output.with_name(f".{output.name}.plan.npy")
    state_path = output.with_name(f".{output.name}.progress.json")
    if batch_size is None:
        batch_size = model.default_batch_size
    options = {"batch_size": batch_size, "normalize": normalize, "chunk_size": chunk_size, "cache_size": cache_size,
               "device": model.device.type}
    fingerprint = model_fingerprint(model, options)

    if resume and not (state_path.is_file() and partial.is_file()):
        resume = False  # nothing was left to continue (killed before the first record): start afresh
    if rank == 0:
        if resume:
            state = json.loads(state_path.read_text())
            rows, digest = state["rows"], state["input_sha256"]
            check_rows, check_digest = _fingerprint_input(pairs_path)
            if (check_rows, check_digest) != (rows, digest):
                raise ResumeError(f"--resume: {pairs_path} changed since the interrupted run; start again without --resume")
            if state["model"] != fingerprint:
                raise ResumeError("--resume: the model or its options changed since the interrupted run "
                                  "(same --model, --template, --aggregation, --batch-size, --chunk-size, --no-normalize needed)")
        else:
            for stale in (partial, plan_path, state_path):
                with suppress(FileNotFoundError):
                    stale.unlink()
            rows, digest = scan(Path(pairs_path), cache_size, plan_path, check)
            np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=(rows, model.hidden_size)).flush()
            for stale in state_path.parent.glob(f"{state_path.name}.rank*"):
                stale.unlink()
            _write_json_atomic(state_path, {"rows": rows, "input_sha256": digest, "model": fingerprint})
    barrier()
    rows = json.loads(state_path.read_text())["rows"]
    done = _done_chunks(state_path)
    plan = np.load(plan_path, mmap_mode="r")
    out = np.load(partial, mmap_mode="r+")
    n_chunks = (rows + chunk_size - 1) // chunk_size
    for start, chunk in _chunks(Path(pairs_path), chunk_size):
        index = start // chunk_size
        if index % world_size != rank or index in done:
            continue
        first = [k for k in range(len(chunk)) if plan[start + k] == start + k]
        if first:
            vectors = model.embed([chunk[k] for k in first], batch_size=batch_size, normalize=normalize)
            out[[start + k for k in first]] = vectors
        out.flush()
        _record_done(state_path, index, rank)
        if progress is not None:
            progress(len(chunk))
    barrier()
    if rank == 0:
        for start in range(0, rows, chunk_size):  # duplicates copy their first occurrence
            sources = np.asarray(plan[start : start + chunk_size])
            dup = np.flatnonzero(sources != np.arange(start, start + len(sources)))
            if len(dup):
                out[start + dup] = out[sources[dup]]
        out.flush()
        del out, plan
        missing = set(range(n_chunks)) - _done_chunks(state_path)
        if missing:
            raise RuntimeError(f"chunks {sorted(missing)[:5]} were not embedded")
        os.replace(partial, output)
        for path in [plan_path, state_path, *state_path.parent.glob(f"{state_path.name}.rank*")]:
            with suppress(FileNotFoundError):
                path.unlink()
    barrier()
    return rows


def _fingerprint_input(path: Path) -> Tuple[int, str]:
    digest = hashlib.sha256()
    rows = 0
    with open(path, "rb") as handle:
        for raw in handle:
            digest.update(raw)
            rows += 1
    return rows, digest.hexdigest()


def _rank_file(state_path: Path, rank: int) -> Path:
    return state_path.with_name(f"{state_path.name}.rank{rank}")


def _done_chunks(state_path: Path) -> set:
    """Chunks finished so far, merged from every rank's own progress file."""
    done = set()
    for path in state_path.parent.glob(f"{state_path.name}.rank*"):
        done.update(json.loads(path.read_text()))
    return done


def _record_done(state_path: Path, index: int, rank: int) -> None:
    """Add a finished chunk to this rank's progress file (atomically; ranks never share a file)."""
    path = _rank_file(state_path, rank)
    done = json.loads(path.read_text()) if path.is_file() else []
    done.append(index)
    _write_json_atomic(path, done)
