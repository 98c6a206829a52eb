"""Approximate relation search: a FAISS index over an embedded collection, built out of core.

An index holds compressed codes (IVF-PQ), a graph (HNSW) or the plain vectors (flat) of a
collection of unit relation vectors (inner product = cosine). It proposes candidates; the exact
vectors, memory-mapped from the collection, re-rank them (:meth:`relbert.search.exact.RelationIndex.search`).

- Built in chunks: training gathers a sample of rows and adding reads ``chunk`` rows at a time,
  both with plain file reads of the ``.npy`` (not through its memory map, whose pages would stay
  resident), so memory is the index plus one chunk, never the collection.
- One file, written atomically: a header with a JSON record of the collection it was built from
  (rows, dimension, a checksum of sampled rows, the parameters) and the FAISS index. Loading it
  beside another collection is refused with one line.

FAISS is imported only here, lazily (``pip install faiss-cpu``, or the user's GPU build).
"""
from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np

from ..errors import IndexError_

KINDS = ("ivfpq", "hnsw", "flat")
MAGIC = b"RELBERT-ANN\x00"
FORMAT = 1
#: Rows of the collection hashed into its checksum (evenly spaced, first and last included).
CHECKSUM_ROWS = 1024
#: Bytes of float32 rows gathered to train IVF-PQ by default, beside half the index's size.
TRAIN_BYTES = 200 << 20
#: Lists an IVF-PQ search probes by default.
NPROBE = 128
#: How far from 1 a row's norm may be for the collection to count as unit vectors.
UNIT_TOLERANCE = 1e-3


def import_faiss():
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError("approximate search needs FAISS: pip install faiss-cpu (or your GPU build of faiss)") from err
    return faiss


@dataclass
class IndexRecord:
    """What an index was built from and how; stored in the index file."""

    rows: int
    dimension: int
    checksum: str
    kind: str
    params: Dict[str, int] = field(default_factory=dict)
    search: Dict[str, int] = field(default_factory=dict)  # default search-time settings (nprobe, efSearch)
    format: int = FORMAT
    provenance: Optional[dict] = None  # the collection's (relbert.embedding.provenance): the model that embedded it


def sample_rows(rows: int, count: int) -> np.ndarray:
    """``count`` evenly spaced row indices in ``[0, rows)`` (all rows when there are fewer)."""
    if rows <= count:
        return np.arange(rows)
    return np.unique(np.linspace(0, rows - 1, count).round().astype(np.int64))


def _file_of(vectors: np.ndarray):
    """``(path, byte offset, row bytes)`` of a C-ordered memory map, else None."""
    path = getattr(vectors, "filename", None)
    if isinstance(vectors, np.memmap) and path and vectors.flags.c_contiguous:
        return path, vectors.offset, vectors.shape[1] * vectors.dtype.itemsize
    return None


def read_rows(vectors: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """``vectors[picks]`` as float32; from a memory map with one file read per row, so that the
    pages read (and the kernel's read-ahead around them) do not stay in the resident set."""
    where = _file_of(vectors)
    if where is None:
        return np.asarray(vectors[picks], dtype=np.float32)
    path, offset, row_bytes = where
    out = np.empty((len(picks), vectors.shape[1]), dtype=vectors.dtype)
    with open(path, "rb") as handle:
        for i, row in enumerate(picks):
            handle.seek(offset + int(row) * row_bytes)
            out[i] = np.frombuffer(handle.read(row_bytes), dtype=vectors.dtype)
    return out.astype(np.float32, copy=False)


def collection_checksum(vectors: np.ndarray) -> str:
    """sha256 of the shape and of :data:`CHECKSUM_ROWS` sampled rows (float32 bytes)."""
    digest = hashlib.sha256(f"{vectors.shape[0]}x{vectors.shape[1]}".encode())
    digest.update(np.ascontiguousarray(read_rows(vectors, sample_rows(len(vectors), CHECKSUM_ROWS))).tobytes())
    return digest.hexdigest()


def check_unit_rows(vectors: np.ndarray, source: str) -> None:
    """Refuse a collection whose sampled rows are not unit vectors (the index assumes cosine = inner product)."""
    picks = sample_rows(len(vectors), 4096)
    norms = np.linalg.norm(read_rows(vectors, picks), axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > UNIT_TOLERANCE)
    if len(bad):
        row = int(picks[bad[0]])
        raise IndexError_(f"{source}: row {row} has norm {norms[bad[0]]:.4g}, not 1: the index needs unit vectors "
                          "(embed without --no-normalize)")


def iter_chunks(vectors: np.ndarray, chunk: int):
    """``(start, rows)`` blocks of ``chunk`` rows as float32. A memory map is read with plain file
    reads: mapped pages would stay in the process's resident set, which would then grow to the
    whole collection."""
    rows = len(vectors)
    where = _file_of(vectors)
    for start in range(0, rows, chunk):
        stop = min(rows, start + chunk)
        if where is not None:
            path, offset, row_bytes = where
            block = np.fromfile(path, dtype=vectors.dtype, count=(stop - start) * vectors.shape[1],
                                offset=offset + start * row_bytes).reshape(stop - start, -1)
        else:
            block = np.asarray(vectors[start:stop])
        yield start, np.ascontiguousarray(block, dtype=np.float32)


def smallest_ivfpq(nbits: Optional[int] = None) -> int:
    """The fewest rows IVF-PQ can be built from: its product quantizer trains 2^nbits centroids
    per sub-vector (``nbits`` default 8: 256 rows)."""
    return 2 ** (nbits or 8)


def default_params(kind: str, rows: int, dimension: int) -> Dict[str, int]:
    """Build parameters when none are given (docs/search.md, Approximate search, has the measurements)."""
    if kind == "ivfpq":
        # about 4 x sqrt(rows) lists, rounded up to a power of two (finer lists: fewer codes scanned
        # at the same nprobe for the same recall), at most rows / 39 (FAISS's training minimum)
        nlist = 2 ** math.ceil(math.log2(4 * math.sqrt(max(rows, 1))))
        nlist = int(max(16, min(nlist, 65536, 2 ** math.floor(math.log2(max(rows // 39, 1))))))
        m = next(m for m in (dimension // 8, dimension // 4, dimension // 2, dimension, 1) if m and dimension % m == 0)
        return {"nlist": nlist, "m": m, "nbits": 8}
    if kind == "hnsw":
        return {"hnsw_m": 32}
    return {}


def default_train_size(nlist: int, dimension: int, rows: int, code_bytes: int) -> int:
    """Rows that train IVF-PQ: 40 a list (FAISS asks for 39), at least 65,536, but at most
    :data:`TRAIN_BYTES` plus half the index's size of float32 rows: training holds the sample
    twice (the rows and their residuals), and the build's budget is the index, one chunk and
    500 MB (at 2M rows x 384: 173,000 rows; at 100M: 1.96M, 30 a list of 65,536)."""
    budget = TRAIN_BYTES + rows * (code_bytes + 8) // 2
    return max(65536, min(40 * nlist, budget // (4 * dimension)))


def default_search(kind: str, params: Dict[str, int]) -> Dict[str, int]:
    if kind == "ivfpq":
        # recall follows the number of lists probed more than their share (docs/search.md, Approximate search)
        return {"nprobe": min(params["nlist"], NPROBE)}
    if kind == "hnsw":
        return {"ef_search": 128}
    return {}


def build_index(vectors: np.ndarray, kind: str = "ivfpq", params: Optional[Dict[str, int]] = None,
                train_size: Optional[int] = None, chunk: int = 65536, source: str = "VECTORS",
                on_rows: Optional[Callable[[int], None]] = None) -> Tuple[object, IndexRecord]:
    """A FAISS index of ``vectors`` (N, H) float32 unit rows (a memory map is read chunk by chunk).

    Args:
        kind: ``"ivfpq"`` (inverted lists of product-quantized codes: the compact default),
            ``"hnsw"`` (a graph over the full vectors: fastest queries, no compression) or
            ``"flat"`` (every vector; exact inner products).
        params: ``nlist``, ``m``, ``nbits`` (ivfpq) or ``hnsw_m`` (hnsw); defaults from
            :func:`default_params`.
        train_size: rows sampled (evenly) to train IVF-PQ; default :func:`default_train_size`.
        chunk: rows added at a time.
        on_rows: called with the number of rows after each chunk (a progress bar).
    """
    faiss = import_faiss()
    if kind not in KINDS:
        raise IndexError_(f"unknown index kind {kind!r}: choose one of {', '.join(KINDS)}")
    if vectors.ndim != 2 or len(vectors) == 0:
        raise IndexError_(f"{source}: expected a non-empty (rows, dimension) matrix, found shape {vectors.shape}")
    rows, dimension = vectors.shape
    check_unit_rows(vectors, source)
    params = {**default_params(kind, rows, dimension), **(params or {})}
    if kind == "ivfpq":
        if dimension % params["m"]:
            raise IndexError_(f"--m {params['m']} must divide the dimension {dimension}")
        if params["nlist"] > rows:
            raise IndexError_(f"--nlist {params['nlist']} exceeds the collection's {rows} rows")
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFPQ(quantizer, dimension, params["nlist"], params["m"], params["nbits"],
                                 faiss.METRIC_INNER_PRODUCT)
        code_bytes = params["m"] * params["nbits"] // 8
        size = min(rows, train_size or default_train_size(params["nlist"], dimension, rows, code_bytes))
        least = max(params["nlist"], 2 ** params["nbits"])  # a centroid per list, and the quantizer's 2^nbits
        if size < least:
            raise IndexError_(f"--train-size {size}: IVF-PQ trains on at least {least} rows here (--nlist "
                              f"{params['nlist']} lists and 2^{params['nbits']} codes); give {least} or more")
        # FAISS warns (on stderr) below 39 rows a centroid; fewer still cluster well for an IVF
        index.cp.min_points_per_centroid = max(1, min(39, size // params["nlist"]))
        index.pq.cp.min_points_per_centroid = max(1, min(39, size // 2 ** params["nbits"]))
        picks = sample_rows(rows, size)
        sample = np.empty((len(picks), dimension), np.float32)
        filled = 0
        for start, block in iter_chunks(vectors, chunk):  # the sampled rows, gathered chunk by chunk
            mine = picks[(picks >= start) & (picks < start + len(block))] - start
            sample[filled : filled + len(mine)] = block[mine]
            filled += len(mine)
        index.train(sample)
        del sample
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, params["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexFlatIP(dimension)
    for start, block in iter_chunks(vectors, chunk):
        index.add(block)
        if on_rows is not None:
            on_rows(len(block))
    record = IndexRecord(rows=rows, dimension=dimension, checksum=collection_checksum(vectors), kind=kind,
                         params=params, search=default_search(kind, params))
    return index, record


def save_index(index, record: IndexRecord, path: Union[str, Path]) -> None:
    """Write the record and the index to ``path`` as one file, atomically (a temporary file renamed)."""
    faiss = import_faiss()
    from ..atomic import atomic_output

    path = Path(path)
    meta = json.dumps(asdict(record)).encode()
    blob = faiss.serialize_index(index)
    with atomic_output(path) as handle:
        handle.write(MAGIC + struct.pack("<Q", len(meta)) + meta)
        handle.write(memoryview(blob))


def load_index(path: Union[str, Path]) -> Tuple[object, IndexRecord]:
    """``(index, record)`` from :func:`save_index`'s file; a missing or corrupt file is an :class:`IndexError_`."""
    faiss = import_faiss()
    path = Path(path)
    if not path.is_file():
        raise IndexError_(f"{path}: no such index file (build one with relbert-index)")
    data = path.read_bytes()
    head = len(MAGIC) + 8
    if not data.startswith(MAGIC) or len(data) < head:
        raise IndexError_(f"{path}: not a relbert-index file")
    (size,) = struct.unpack("<Q", data[len(MAGIC) : head])
    try:
        record = IndexRecord(**json.loads(data[head : head + size]))
    except (ValueError, TypeError) as err:
        raise IndexError_(f"{path}: corrupt index record ({err})") from None
    if record.format != FORMAT:
        raise IndexError_(f"{path}: index format {record.format}, this relbert reads {FORMAT}: rebuild it")
    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8, offset=head + size))
    except RuntimeError as err:
        raise IndexError_(f"{path}: corrupt index ({str(err).splitlines()[0][:120]})") from None
    if index.ntotal != record.rows or index.d != record.dimension:
        raise IndexError_(f"{path}: corrupt index (it holds {index.ntotal} x {index.d}, its record says "
                          f"{record.rows} x {record.dimension})")
    return index, record


def check_collection(record: IndexRecord, vectors: np.ndarray, index_path, vectors_path) -> None:
    """Refuse a collection other than the one the index was built from (one line)."""
    rows, dimension = vectors.shape
    if (rows, dimension) != (record.rows, record.dimension):
        raise IndexError_(f"{index_path} was built from {record.rows} x {record.dimension} vectors, but {vectors_path} "
                          f"holds {rows} x {dimension}: rebuild the index (relbert-index)")
    if collection_checksum(vectors) != record.checksum:
        raise IndexError_(f"{index_path} was built from other vectors than {vectors_path} (checksum of sampled rows "
                          "differs): rebuild the index (relbert-index)")
    check_unit_rows(vectors, str(vectors_path))


def set_search_params(index, record: IndexRecord, nprobe: Optional[int] = None, ef_search: Optional[int] = None) -> None:
    """Search-time settings: the record's defaults unless given."""
    if record.kind == "ivfpq":
        index.nprobe = int(nprobe or record.search.get("nprobe", 16))
    elif record.kind == "hnsw":
        index.hnsw.efSearch = int(ef_search or record.search.get("ef_search", 128))
