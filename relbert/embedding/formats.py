"""Output formats of relbert-embed besides ``.npy``: ``npz`` (vectors + pairs) and ``word2vec``.

word2vec text format: a ``ROWS DIM`` header, then one ``KEY v1 v2 ...`` line per row, where
KEY is ``head__tail`` with spaces in words written as ``_`` (gensim's
``KeyedVectors.load_word2vec_format`` reads it). A key is written once, at its first row:
repeated pairs (whose rows are identical) and pairs that differ only by ``_`` versus space
share a key, and a keyed format cannot hold it twice. The header counts the keys written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Tuple

import numpy as np

from ..atomic import atomic_output

FORMATS = ("npy", "npz", "word2vec")
#: The format each output name's extension means (word2vec's text format: .txt or .vec).
EXTENSIONS = {".npy": "npy", ".npz": "npz", ".txt": "word2vec", ".vec": "word2vec"}


def format_for(output: str, fmt=None) -> str:
    """The format of ``output``: ``fmt`` where given, else the one its extension names; a
    contradiction, or a name that says nothing without ``fmt``, is a one-line UsageError (a
    ``.npz`` holding ``.npy`` bytes fails only when someone loads it)."""
    from ..errors import UsageError

    suffix = Path(output).suffix.lower()
    named = EXTENSIONS.get(suffix)
    names = ", ".join(f"{ext} ({f})" for ext, f in EXTENSIONS.items())
    if fmt is None:
        if named is None:
            raise UsageError(f"{output}: the name does not say the format: end it in {names}, or give --format")
        return named
    if named is not None and named != fmt:
        wanted = " or ".join(f"*{ext}" for ext, f in EXTENSIONS.items() if f == fmt)
        raise UsageError(f"{output}: a {suffix} name holds {named}, but --format {fmt} was given: name the output "
                         f"{wanted}, or drop --format")
    return fmt


def word2vec_key(head: str, tail: str) -> str:
    return f"{'_'.join(head.split())}__{'_'.join(tail.split())}"


def write_npz(vectors: np.ndarray, pairs: Iterable[Tuple[str, str]], path: Path) -> None:
    """``vectors`` (N, H) float32 and ``pairs`` (N, 2) unicode strings in one ``.npz``."""
    pairs = np.array(list(pairs), dtype=str).reshape(-1, 2)
    with atomic_output(path) as handle:
        np.savez(handle, vectors=np.asarray(vectors), pairs=pairs)


def write_word2vec(vectors: np.ndarray, pairs: Iterable[Tuple[str, str]], path: Path, block: int = 8192) -> int:
    """Stream the word2vec text format (``block`` rows at a time; the set of keys written is
    kept to skip repeats). Returns the number of rows whose key was already written."""
    rows, dim = vectors.shape
    header = f"{rows} {dim}"
    seen = set()
    with atomic_output(path, "w") as handle:
        handle.write(header + "\n")  # rewritten at the end with the count of keys, padded to this width
        pairs = iter(pairs)
        for start in range(0, rows, block):
            chunk = np.asarray(vectors[start : start + block])
            lines = []
            for row in chunk:
                key = word2vec_key(*next(pairs))
                if key in seen:
                    continue
                seen.add(key)
                lines.append(key + " " + " ".join(f"{x:.7g}" for x in row))
            if lines:
                handle.write("\n".join(lines) + "\n")
        handle.seek(0)
        handle.write(f"{len(seen)} {dim}".ljust(len(header)))
    return rows - len(seen)
