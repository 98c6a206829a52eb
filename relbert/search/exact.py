"""Relation search: the pairs of an embedded collection most similar to a query pair.

``RelationIndex.load("vectors.npy", "pairs.tsv")`` memory-maps the vectors; ``search`` scores
queries with :func:`relbert.runtime.ops.topk_cosine`, which scans the collection in tiles (memory
O(queries x tile), never O(queries x N)). With ``index=`` (a file from ``relbert-index``,
:mod:`relbert.search.index`) an approximate index proposes ``k x refine`` candidates and their exact
vectors, read from the memory map, re-rank them.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import CollectionError, OptionError
from ..io import read_pairs

Pair = Tuple[str, str]
#: Candidates per result an approximate index proposes for exact re-ranking, by default
#: (docs/search.md, Approximate search, has the measurements; relbert-search --refine says the same).
REFINE = 60


class RelationIndex:
    """An embedded collection: vectors (N, H) and the pair of each row.

    Args:
        vectors: (N, H) array (a memory map is fine).
        pairs: the N pairs, row by row.
    """

    def __init__(self, vectors: np.ndarray, pairs: Sequence[Pair]):
        if len(vectors) != len(pairs):
            raise CollectionError(f"{len(vectors)} vectors but {len(pairs)} pairs: they must be the same rows")
        self.vectors = vectors
        self.pairs = list(pairs)
        self._rows = None
        #: The approximate index (:mod:`relbert.search.index`) and its record, when loaded with ``index=``.
        self.ann = None
        self.ann_record = None
        #: Candidates per result the approximate index proposes for exact re-ranking.
        self.refine = REFINE
        #: Where the vectors came from (named in errors).
        self.source = "the collection"
        #: Whether every row is known finite (an index's candidates are checked as they are read).
        self.finite_checked = True

    @classmethod
    def load(cls, vectors: Union[str, Path], pairs: Optional[Union[str, Path]] = None, *,
             index: Optional[Union[str, Path]] = None, refine: int = REFINE, nprobe: Optional[int] = None,
             ef_search: Optional[int] = None) -> "RelationIndex":
        """Open ``vectors`` (``.npy``, memory-mapped; or ``.npz`` from ``relbert-embed --format npz``,
        which carries its pairs) with the pairs file it was embedded from.

        Args:
            index: an approximate index built from these vectors by ``relbert-index``; searches then
                re-rank its ``k x refine`` candidates by exact cosine (a mismatched collection is refused).
            refine: candidates per result taken from the index.
            nprobe, ef_search: search breadth of an IVF / HNSW index (default: the index's own).
        """
        opened = cls._open(vectors, pairs, check_finite=index is None)
        if index is not None:
            from . import index as ann

            if refine < 1:
                raise OptionError(f"refine must be positive, got {refine}")
            from ..embedding import provenance

            opened.ann, opened.ann_record = ann.load_index(index)
            # vectors of another offset weight or width do not mix (the clearer line, before the checksum's)
            provenance.check_same_space(provenance.read(vectors), opened.ann_record.provenance, vectors, index)
            ann.check_collection(opened.ann_record, opened.vectors, index, vectors)
            ann.set_search_params(opened.ann, opened.ann_record, nprobe, ef_search)
            opened.refine = refine
        return opened

    @classmethod
    def _open(cls, vectors, pairs, check_finite: bool = True) -> "RelationIndex":
        matrix, stored = load_vectors(vectors, check_finite)
        if pairs is None and stored is None:
            raise CollectionError(f"{vectors}: an .npy collection needs its pairs file (--pairs)")
        opened = cls(matrix, read_pairs(pairs) if pairs else stored)
        opened.source, opened.finite_checked = str(vectors), check_finite
        return opened

    @property
    def dimension(self) -> int:
        """The dimension of the collection's vectors."""
        return int(self.vectors.shape[1])

    def row_of(self, pair: Pair) -> Optional[int]:
        """Row of ``pair`` in the collection (first occurrence), or None."""
        return self._first_rows().get(tuple(pair))

    def _first_rows(self) -> dict:
        if self._rows is None:
            self._rows = {}
            for i, p in enumerate(self.pairs):
                self._rows.setdefault(p, i)
        return self._rows

    def search(self, queries: np.ndarray, k: int = 10, kernel: str = "auto", exact: bool = False
               ) -> List[List[Tuple[Pair, float, int]]]:
        """The ``k`` most cosine-similar rows for each query vector: ``[(pair, score, row), ...]`` per query.

        With an approximate index loaded (and ``exact`` False) its candidates are re-ranked by
        exact cosine; otherwise the whole collection is scanned.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1] != self.dimension:
            raise CollectionError(f"query vectors have dimension {queries.shape[1]}, the collection {self.dimension}: "
                             "embed queries with the model that embedded the collection")
        # a repeated pair is listed once (at its first row): fetch enough rows to skip its repeats
        repeats = len(self.pairs) - len(self._first_rows())
        if self.ann is not None and not exact:
            scores, index = self._approximate(queries, k + repeats)
        else:
            scores, index = self._exact(queries, k + repeats, kernel)
        return self._listed(scores, index, k)

    def _exact(self, queries: np.ndarray, k: int, kernel: str):
        import torch

        from ..runtime import ops

        if not self.finite_checked:  # opened beside an index, scanned whole here (--exact): checked now, once
            bad = first_non_finite_row(self.vectors)
            if bad is not None:
                raise non_finite(self.source, bad)
            self.finite_checked = True

        with warnings.catch_warnings():  # a read-only memory map is only ever read here
            warnings.simplefilter("ignore", UserWarning)
            keys = torch.from_numpy(np.asarray(self.vectors))
        scores, index = ops.topk_cosine(torch.as_tensor(queries, dtype=keys.dtype), keys, k, kernel=kernel)
        return scores.tolist(), index.tolist()

    def _approximate(self, queries: np.ndarray, k: int, block_rows: int = 65536):
        """The index's ``k x refine`` candidates, re-ranked by exact cosine from the collection.

        Queries go in blocks of about ``block_rows`` candidates (64 queries at most): a block's
        candidate rows are read from the memory map once, in file order, and scored against its
        queries in one matrix product."""
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        unit = np.ascontiguousarray(queries / np.where(norms > 0, norms, 1.0), dtype=np.float32)
        wanted = min(len(self.pairs), k * self.refine)
        _, candidates = self.ann.search(unit, wanted)
        per_block = max(1, min(64, block_rows // max(wanted, 1)))
        all_scores, all_index = [], []
        for start in range(0, len(unit), per_block):
            found = candidates[start : start + per_block]
            valid = found >= 0
            rows = np.unique(found[valid])  # sorted: the memory map is read in file order
            if len(rows) == 0:
                all_scores.extend([] for _ in found)
                all_index.extend([] for _ in found)
                continue
            exact = np.asarray(self.vectors[rows], dtype=np.float32)
            finite = np.isfinite(exact).all(axis=1)
            if not finite.all():  # the candidates read are checked (the whole collection is not read)
                raise non_finite(self.source, int(rows[np.argmin(finite)]))
            key_norms = np.sqrt(np.einsum("ij,ij->i", exact, exact))
            key_norms[key_norms == 0] = 1.0
            where = np.searchsorted(rows, np.where(valid, found, rows[0]))
            products = exact @ unit[start : start + per_block].T  # (rows, queries of the block)
            cos = np.take_along_axis(products, where.T, axis=0).T / key_norms[where]
            for found_q, valid_q, cos_q in zip(found, valid, cos):
                rows_q, first = np.unique(found_q[valid_q], return_index=True)  # each row once
                cos_q = cos_q[valid_q][first]
                order = np.lexsort((rows_q, -cos_q))[:k]  # by score, then row (the exact scan's tie order)
                all_scores.append(cos_q[order].tolist())
                all_index.append(rows_q[order].tolist())
        return all_scores, all_index

    def _listed(self, scores, index, k):
        results = []
        for srow, irow in zip(scores, index):
            hits, listed = [], set()
            for score, i in zip(srow, irow):
                pair = self.pairs[i]
                if pair not in listed:
                    listed.add(pair)
                    hits.append((pair, float(score), int(i)))
            results.append(hits[:k])
        return results

    def check_model(self, model, made: Optional[dict] = None) -> None:
        """Refuse a model whose vectors are not the collection's kind (one line): another
        dimension, or (where the collection's provenance ``made`` says) another offset weight."""
        if model.dimension != self.dimension:
            raise CollectionError(f"{self.source} holds {self.dimension}-dimensional vectors but the model "
                             f"{getattr(model, 'display_name', '')} gives {model.dimension}: pass --model, the model "
                             "that embedded the collection (and its --offset-weight)")
        from ..embedding.kind import VectorKind

        if made is not None:
            VectorKind.from_record(made).check(model.kind(), ("offset_weight",), lambda _, stored, given: (
                f"{self.source} was embedded with offset weight {stored:g}, the queries would be embedded with "
                f"{given:g}: drop --offset-weight to use the collection's"))

    def query(self, pairs: Sequence[Pair], k: int = 10, model=None, include_query: bool = False
              ) -> List[List[Tuple[Pair, float, int]]]:
        """Search with query *pairs*: a pair of the collection uses its stored vector; any other
        is embedded on the fly with ``model`` (a :class:`relbert.RelBERT`; it must be the model
        that embedded the collection). A query pair is left out of its own results (as gensim's
        ``most_similar`` does) unless ``include_query``."""
        rows = [self.row_of(p) for p in pairs]
        missing = [p for p, r in zip(pairs, rows) if r is None]
        if missing and model is None:
            raise CollectionError(f"{missing[0]!r} is not in the collection: pass the model that embedded it to embed queries")
        if missing:
            self.check_model(model)
        fresh = iter(model.embed(missing) if missing else [])
        vectors = np.stack([np.asarray(self.vectors[r]) if r is not None else next(fresh) for r in rows])
        if include_query:
            return self.search(vectors, k)
        found = self.search(vectors, k + 1)
        return [[hit for hit in hits if hit[0] != pair][:k] for pair, hits in zip(pairs, found)]


def load_vectors(path: Union[str, Path], check_finite: bool = True) -> Tuple[np.ndarray, Optional[List[Pair]]]:
    """``(vectors, stored pairs or None)`` of a ``relbert-embed`` output: ``.npy`` (memory-mapped)
    or ``.npz`` (which carries its pairs); anything else is a one-line :class:`~relbert.errors.CollectionError` (a ValueError).
    ``check_finite``: scan every row for NaN or infinity (a search through an index reads only its
    candidates, and checks those instead of reading the whole collection)."""
    path = Path(path)
    if path.suffix not in (".npy", ".npz"):
        raise CollectionError(f"{path}: expected the .npy or .npz file written by relbert-embed, not a "
                         f"{path.suffix or 'suffix-less'} file (the pairs file goes to --pairs)")
    try:
        if path.suffix == ".npz":
            data = np.load(path, allow_pickle=False)
            if "vectors" not in data.files:
                raise CollectionError("no 'vectors' array in it")
            matrix = data["vectors"]
            stored = [tuple(p) for p in data["pairs"].tolist()] if "pairs" in data.files else None
        else:
            matrix = np.load(path, mmap_mode="r", allow_pickle=False)
            stored = None
    except (ValueError, OSError, EOFError) as err:
        raise CollectionError(f"{path}: not a readable relbert-embed output ({str(err).splitlines()[0]})") from None
    if matrix.ndim != 2:
        raise CollectionError(f"{path}: expected a (rows, dimension) matrix, found shape {matrix.shape}")
    bad = first_non_finite_row(matrix) if check_finite else None
    if bad is not None:  # NaN ranks first or vanishes in every search; never searched, indexed or plotted
        raise non_finite(path, bad)
    return matrix, stored


def non_finite(path, row: int) -> CollectionError:
    """The one line for a collection row holding NaN or infinity."""
    return CollectionError(f"{path}: row {row} (line {row + 1} of its pairs) holds a non-finite value (NaN or inf): "
                           "embed that pair again, or remove it from the collection")


def first_non_finite_row(matrix: np.ndarray, block: int = 65536) -> Optional[int]:
    """The first row of ``matrix`` with a NaN or infinity, or None (read in blocks: a memory map
    is scanned once without loading it whole)."""
    for start in range(0, len(matrix), block):
        finite = np.isfinite(np.asarray(matrix[start:start + block])).all(axis=1)
        if not finite.all():
            return start + int(np.argmin(finite))
    return None
