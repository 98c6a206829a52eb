"""The output of an embed run: a preallocated ``.npy`` filled by positioned writes, finished whole.

Chunks are written into the sparse ``.npy`` with ``pwrite`` (no page of the output stays mapped in
the process); at the end duplicate rows copy their first occurrence, and the file is renamed into
place, or read back row by row into the npz and word2vec writers (:mod:`relbert.embedding.formats`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np


def create_npy(path: Path, rows: int, hidden: int) -> None:
    """An ``.npy`` of ``rows x hidden`` float32 zeros (sparse on disk): header, then the size set."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (rows, hidden)})
        handle.truncate(handle.tell() + 4 * rows * hidden)


def npy_data_offset(path: Path) -> int:
    with open(path, "rb") as handle:
        major, _ = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        read_header(handle)
        return handle.tell()


def pwrite_all(fd: int, data: bytes, position: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, position)
        view, position = view[written:], position + written


def copy_duplicates(fd: int, offset: int, sources: Callable[[int, int], np.ndarray], rows: int, hidden: int,
                    block: int) -> None:
    """Each duplicate row gets its first occurrence's bytes (positioned reads and writes);
    ``sources(start, stop)``: each row's source row (the plan's, :meth:`PlanReader.sources`)."""
    width = 4 * hidden
    for start in range(0, rows, block):
        source = sources(start, min(rows, start + block))
        for k in np.flatnonzero(source != np.arange(start, start + len(source))):
            row = os.pread(fd, width, offset + width * int(source[k]))
            pwrite_all(fd, row, offset + width * (start + int(k)))


class RowReader:
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
