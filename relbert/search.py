"""Relation search: the pairs of an embedded collection most similar to a query pair.

``RelationIndex.load("vectors.npy", "pairs.tsv")`` memory-maps the vectors; ``search`` scores
queries with :func:`relbert.ops.topk_cosine`, which scans the collection in tiles (memory
O(queries x tile), never O(queries x N)).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from .io import read_pairs

Pair = Tuple[str, str]


class RelationIndex:
    """An embedded collection: vectors (N, H) and the pair of each row.

    Args:
        vectors: (N, H) array (a memory map is fine).
        pairs: the N pairs, row by row.
    """

    def __init__(self, vectors: np.ndarray, pairs: Sequence[Pair]):
        if len(vectors) != len(pairs):
            raise ValueError(f"{len(vectors)} vectors but {len(pairs)} pairs: they must be the same rows")
        self.vectors = vectors
        self.pairs = list(pairs)
        self._rows = None

    @classmethod
    def load(cls, vectors: Union[str, Path], pairs: Optional[Union[str, Path]] = None) -> "RelationIndex":
        """Open ``vectors`` (``.npy``, memory-mapped; or ``.npz`` from ``relbert-embed --format npz``,
        which carries its pairs) with the pairs file it was embedded from."""
        vectors = Path(vectors)
        if vectors.suffix not in (".npy", ".npz"):
            raise ValueError(f"{vectors}: expected the .npy or .npz file written by relbert-embed, not a "
                             f"{vectors.suffix or 'suffix-less'} file (the pairs file goes to --pairs)")
        try:
            if vectors.suffix == ".npz":
                data = np.load(vectors, allow_pickle=False)
                if "vectors" not in data.files:
                    raise ValueError("no 'vectors' array in it")
                matrix = data["vectors"]
                stored = [tuple(p) for p in data["pairs"].tolist()] if "pairs" in data.files else None
            else:
                matrix = np.load(vectors, mmap_mode="r", allow_pickle=False)
                stored = None
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(f"{vectors}: not a readable relbert-embed output ({str(err).splitlines()[0]})") from None
        if matrix.ndim != 2:
            raise ValueError(f"{vectors}: expected a (rows, dimension) matrix, found shape {matrix.shape}")
        if pairs is None and stored is None:
            raise ValueError(f"{vectors}: an .npy collection needs its pairs file (--pairs)")
        return cls(matrix, read_pairs(pairs) if pairs else stored)

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

    def search(self, queries: np.ndarray, k: int = 10, kernel: str = "auto") -> List[List[Tuple[Pair, float, int]]]:
        """The ``k`` most cosine-similar rows for each query vector: ``[(pair, score, row), ...]`` per query."""
        import torch

        from . import ops

        with warnings.catch_warnings():  # a read-only memory map is only ever read here
            warnings.simplefilter("ignore", UserWarning)
            keys = torch.from_numpy(np.asarray(self.vectors))
        q = torch.as_tensor(np.atleast_2d(queries), dtype=keys.dtype)
        if q.shape[1] != self.dimension:
            raise ValueError(f"query vectors have dimension {q.shape[1]}, the collection {self.dimension}: "
                             "embed queries with the model that embedded the collection")
        # a repeated pair is listed once (at its first row): fetch enough rows to skip its repeats
        repeats = len(self.pairs) - len(self._first_rows())
        scores, index = ops.topk_cosine(q, keys, k + repeats, kernel=kernel)
        results = []
        for srow, irow in zip(scores.tolist(), index.tolist()):
            hits, listed = [], set()
            for score, i in zip(srow, irow):
                pair = self.pairs[i]
                if pair not in listed:
                    listed.add(pair)
                    hits.append((pair, float(score), int(i)))
            results.append(hits[:k])
        return results

    def query(self, pairs: Sequence[Pair], k: int = 10, model=None) -> List[List[Tuple[Pair, float, int]]]:
        """Search with query *pairs*: a pair of the collection uses its stored vector; any other
        is embedded on the fly with ``model`` (a :class:`relbert.RelBERT`; it must be the model
        that embedded the collection)."""
        rows = [self.row_of(p) for p in pairs]
        missing = [p for p, r in zip(pairs, rows) if r is None]
        if missing and model is None:
            raise ValueError(f"{missing[0]!r} is not in the collection: pass the model that embedded it to embed queries")
        if missing and model.hidden_size != self.dimension:
            raise ValueError(f"the collection holds {self.dimension}-dimensional vectors but the model "
                             f"{getattr(model, 'display_name', '')!s} gives {model.hidden_size}: pass the model that "
                             "embedded the collection (--model)")
        fresh = iter(model.embed(missing) if missing else [])
        vectors = np.stack([np.asarray(self.vectors[r]) if r is not None else next(fresh) for r in rows])
        return self.search(vectors, k)
