"""The one embed loop: batches prepared while the encoder runs, whatever the runtime.

Per batch the host pads token ids into a rectangle, derives the masks and copies them to the
device; the encoder then runs. Done one after the other, a GPU waits for the host at every
batch. Here a helper thread pads the next batches (into pinned memory on CUDA) while the main
thread runs the encoder, the copies to the device are ``non_blocking`` on a side stream, the
mask shortcut is decided on the host from the numpy mask (no device sync per batch), and the
vectors stay on the device until :attr:`EmbedLoop.gather_rows` rows are ready, then come back
in one copy.

- Bounded: at most ``depth`` prepared batches wait in the queue, and at most ``gather_rows``
  vectors wait on the device.
- An exception in the helper (a bad id, a failed allocation) is raised in the caller; an
  exception or Ctrl-C in the caller stops the helper before the loop returns.
- The same loop runs on CPU (no pinned memory, no side stream); with one batch of look-ahead it
  computes exactly what the plain loop computes.
- A runtime that runs several batches at once (``workers`` > 1: ONNX Runtime, one thread per
  batch) gets them from a thread pool, each batch prepared by the worker that runs it; rows
  still land in their own places and progress moves in batch order.

:func:`plan_batches` cuts length-sorted prompts into batches: a fixed number of rows, or (the
CUDA default) as many rows as fit a token budget, so short prompts get large batches.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .torch_runtime import host_tensors, pools_one_position
from ..errors import OptionError

#: Padded tokens per batch on CUDA when no batch size is given: large enough to fill the GPU
#: with a 6-layer 384-wide encoder, small enough for a 24-layer 1024-wide one (activations of
#: one layer at 65,536 tokens: a few hundred MB in fp16).
CUDA_TOKEN_BUDGET = 65536
#: Batch widths are padded to a multiple of this on CUDA: fewer distinct shapes for the
#: attention kernels and tensor-core friendly matrix sizes.
CUDA_WIDTH_MULTIPLE = 8


def plan_batches(lengths: np.ndarray, batch_size: Optional[int] = None, token_budget: Optional[int] = None,
                 width_multiple: int = 1) -> List[Tuple[int, int]]:
    """``[start, stop)`` ranges over prompts sorted by ascending length.

    Args:
        lengths: (N,) prompt lengths in ascending order.
        batch_size: rows per batch; or None to fill ``token_budget``.
        token_budget: padded tokens (rows x padded width) per batch when ``batch_size`` is None;
            a batch always holds at least one row.
        width_multiple: the padded width is the longest row rounded up to this multiple.
    """
    n = len(lengths)
    if batch_size is not None:
        if batch_size < 1:
            raise OptionError(f"batch_size must be positive, got {batch_size}")
        return [(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]
    if token_budget is None or token_budget < 1:
        raise OptionError("give a positive batch_size or token_budget")
    widths = -(-np.asarray(lengths, dtype=np.int64) // width_multiple) * width_multiple
    ranges, start = [], 0
    while start < n:
        # rows fit while (rows) x (width of the last row) <= budget; widths ascend
        window = min(n - start, token_budget)  # a batch never holds more rows than the budget
        rows = np.arange(1, window + 1)
        fits = rows * widths[start : start + window] <= token_budget
        stop = start + (window if fits.all() else max(1, int(np.argmin(fits))))
        ranges.append((start, stop))
        start = stop
    return ranges


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


class EmbedLoop:
    """Runs ``forward`` over prepared batches with the preparation overlapped (see the module doc).

    Args:
        prepare: ``rows -> dict`` of numpy arrays ``input_ids``, ``attention_mask``, ``pool_mask``
            (B, L) for those prompt indices (runs on the helper thread).
        forward: ``(input_ids, attention_mask, pool_mask, one_position) -> (B, H)`` tensor on
            ``device``, where ``one_position`` says every row pools exactly one position.
        device: where ``forward`` runs.
        depth: prepared batches that may wait (memory bound of the host side).
        gather_rows: vectors kept on the device before one copy back.
        overlap: prepare on the helper thread (default: on CUDA only; on CPU the helper would
            take a core from the encoder's own threads, so batches are prepared in line there).
        workers: batches run at once (the runtime's ``workers``); above 1, on CPU, a thread pool
            prepares and runs them.
    """

    def __init__(self, prepare: Callable[[np.ndarray], Dict[str, np.ndarray]],
                 forward: Callable[..., torch.Tensor], device: torch.device, depth: int = 4,
                 gather_rows: int = 65536, overlap: Optional[bool] = None, workers: int = 1):
        if depth < 1:
            raise OptionError(f"depth must be positive, got {depth}")
        if workers < 1:
            raise OptionError(f"workers must be positive, got {workers}")
        self.prepare, self.forward, self.device = prepare, forward, torch.device(device)
        self.depth, self.gather_rows = depth, gather_rows
        self.cuda = self.device.type == "cuda"
        self.overlap = self.cuda if overlap is None else overlap
        self.workers = 1 if self.cuda else int(workers)  # one CUDA stream runs one batch at a time
        #: The helper thread of the last run (tests check that it has stopped).
        self.thread: Optional[threading.Thread] = None

    # -- the helper thread ---------------------------------------------------------------------
    def _host_batch(self, rows: np.ndarray):
        batch = self.prepare(rows)
        one = pools_one_position(batch["pool_mask"])  # decided here: no device sync
        tensors = host_tensors(batch)
        if self.cuda:
            tensors = tuple(t.pin_memory() for t in tensors)  # a truly asynchronous copy needs pinned pages
        return rows, tensors, one

    def _produce(self, batches: Sequence[np.ndarray], out: "queue.Queue", stop: threading.Event) -> None:
        def put(item) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for rows in batches:
                if stop.is_set() or not put(self._host_batch(rows)):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the caller, raised there
            put(_Failure(err))
            return
        put(_DONE)

    # -- the caller's side ---------------------------------------------------------------------
    def run(self, batches: Sequence[np.ndarray], out: np.ndarray, on_batch: Optional[Callable[[int], None]] = None
            ) -> np.ndarray:
        """Fill ``out[rows]`` with the vectors of every batch of prompt indices; returns ``out``."""
        if self.workers > 1:
            return self._fan_out(batches, out, on_batch)
        if not self.overlap:
            return self._consume((self._host_batch(rows) for rows in batches), out, on_batch)
        prepared: "queue.Queue" = queue.Queue(maxsize=self.depth)
        stop = threading.Event()
        self.thread = threading.Thread(target=self._produce, args=(batches, prepared, stop),
                                       name="relbert-prepare", daemon=True)
        self.thread.start()
        try:
            return self._consume(self._take(prepared), out, on_batch)
        finally:
            stop.set()
            while True:  # unblock a helper waiting on a full queue
                try:
                    prepared.get_nowait()
                except queue.Empty:
                    break
            self.thread.join()

    @staticmethod
    def _take(prepared: "queue.Queue") -> Iterator[tuple]:
        while True:
            item = prepared.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def _consume(self, items: Iterator[tuple], out: np.ndarray, on_batch) -> np.ndarray:
        copy_stream = torch.cuda.Stream(self.device) if self.cuda else None
        pending: List[Tuple[np.ndarray, torch.Tensor]] = []
        waiting = 0
        for rows, host, one in items:
            with torch.inference_mode():
                vectors = self.forward(*self._to_device(host, copy_stream), one)
            pending.append((rows, vectors))
            waiting += len(rows)
            if on_batch is not None:
                on_batch(len(rows))
            if waiting >= self.gather_rows:
                self._gather(pending, out)
                waiting = 0
        self._gather(pending, out)
        return out

    def _fan_out(self, batches: Sequence[np.ndarray], out: np.ndarray, on_batch) -> np.ndarray:
        from concurrent.futures import ThreadPoolExecutor

        def compute(rows):  # inference mode is per thread: entered in each worker
            rows, host, one = self._host_batch(rows)
            with torch.inference_mode():
                return rows, self.forward(*self._to_device(host, None), one)

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="relbert-embed") as pool:
            for rows, vectors in pool.map(compute, batches):  # results in batch order
                out[rows] = vectors.float().cpu().numpy()
                if on_batch is not None:
                    on_batch(len(rows))
        return out

    def _to_device(self, host, copy_stream):
        if not self.cuda:
            return tuple(t.to(self.device) for t in host)
        main = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(copy_stream):
            tensors = tuple(t.to(self.device, non_blocking=True) for t in host)
        main.wait_stream(copy_stream)  # the encoder waits for the copy on the device, not the host
        for t in tensors:
            t.record_stream(main)  # the caching allocator must not reuse them before the encoder ran
        return tensors

    @staticmethod
    def _gather(pending: List[Tuple[np.ndarray, torch.Tensor]], out: np.ndarray) -> None:
        if not pending:
            return
        rows = np.concatenate([r for r, _ in pending])
        out[rows] = torch.cat([v for _, v in pending]).float().cpu().numpy()  # one copy back
        pending.clear()


def batch_rows(order: np.ndarray, ranges: Sequence[Tuple[int, int]]) -> Iterator[np.ndarray]:
    """The prompt indices of each batch: ``order[start:stop]`` for each range."""
    return (order[start:stop] for start, stop in ranges)


def embed_rows(runtime, ids: np.ndarray, offsets: np.ndarray, pad: Callable, *, width: int, device: torch.device,
               batch_size: Optional[int], normalize: bool = False,
               on_batch: Optional[Callable[[int], None]] = None) -> np.ndarray:
    """Pooled vectors of rows of flat token ids (row i: ``ids[offsets[i]:offsets[i + 1]]``), ``(rows, width)``.

    The batch plan and the loop together: rows are length-sorted and cut by :func:`plan_batches`
    (``batch_size`` rows, or on CUDA a token budget when None), ``pad(ids, offsets, rows,
    width_multiple)`` builds each batch, ``runtime`` (:class:`relbert.runtime.interface.Runtime`)
    pools it, and :class:`EmbedLoop` runs them; ``on_batch(n)`` after each batch of n rows.
    """
    lengths = np.diff(offsets)
    order = np.argsort(lengths, kind="stable")
    out = np.empty((len(lengths), width), dtype=np.float32)
    width_multiple = CUDA_WIDTH_MULTIPLE if device.type == "cuda" else 1
    ranges = plan_batches(lengths[order], batch_size, CUDA_TOKEN_BUDGET, width_multiple)

    def prepare(rows):  # pad one length-sorted batch
        return pad(ids, offsets, rows, width_multiple)

    def forward(input_ids, attention_mask, pool_mask, one_position):
        return runtime(input_ids, attention_mask, pool_mask, normalize=normalize, one_position=one_position)

    EmbedLoop(prepare, forward, device, workers=runtime.workers).run(batch_rows(order, ranges), out, on_batch)
    return out
