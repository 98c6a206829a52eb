"""Tensor ops of the embedding and evaluation path, with kernel dispatch.

Each op has a PyTorch reference (``*_torch``) that runs anywhere and a Triton kernel in
``relbert.kernels`` used for CUDA tensors. ``kernel="auto"`` picks Triton for CUDA tensors
and PyTorch otherwise; ``"triton"`` forces the kernel (on CPU only under
``TRITON_INTERPRET=1``), ``"torch"`` forces the reference. Triton is imported lazily, so
``import relbert`` on a CPU-only machine never imports it.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from ..errors import OptionError

KERNELS = ("auto", "triton", "torch")


def _use_triton(kernel: str, *tensors: torch.Tensor) -> bool:
    if kernel not in KERNELS:
        raise OptionError(f"unknown kernel {kernel!r}: choose one of {', '.join(KERNELS)}")
    if kernel == "auto":
        return all(t.is_cuda for t in tensors) and _triton_available()
    return kernel == "triton"


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _kernels():
    try:
        from .. import kernels

        kernels.pool_normalize  # noqa: B018 - the kernels load (and import Triton) on first use
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "kernel='triton' needs the Triton package: pip install triton (GPU machines), "
            "or use kernel='torch'"
        ) from err
    return kernels


# --- pooling -----------------------------------------------------------------------------
def pool_torch(hidden: torch.Tensor, pool_mask: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Masked sum of hidden states over the selected positions, optionally L2-normalized.

    Args:
        hidden: (B, L, H) hidden states, any float dtype.
        pool_mask: (B, L) 0/1 (or bool) selection of the positions to pool.
        normalize: divide each row by its L2 norm (rows with an empty mask stay zero).

    Returns:
        (B, H) float32.
    """
    weights = (pool_mask != 0).to(torch.float32).unsqueeze(1)  # (B, 1, L)
    summed = torch.bmm(weights, hidden.float()).squeeze(1)  # (B, H): one batched GEMV, fp32 accumulation
    return normalize_rows(summed) if normalize else summed


def normalize_rows(vectors: torch.Tensor) -> torch.Tensor:
    """Each row divided by its L2 norm; zero rows stay zero."""
    norm = vectors.norm(dim=-1, keepdim=True)
    return vectors / torch.where(norm > 0, norm, torch.ones_like(norm))


def pool(hidden: torch.Tensor, pool_mask: torch.Tensor, normalize: bool = True, kernel: str = "auto") -> torch.Tensor:
    """Pool hidden states into one float32 vector per row (see :func:`pool_torch`).

    The paper's aggregations are masked sums: ``pool_mask`` selects the mask position
    (``mask``), every non-pad token (``average``) or every non-pad token but the mask
    (``average_no_mask``). Rows whose mask is empty give a zero vector.
    """
    if hidden.dim() != 3 or pool_mask.shape != hidden.shape[:2]:
        raise OptionError(f"pool: hidden must be (B, L, H) and pool_mask (B, L); got {tuple(hidden.shape)} and {tuple(pool_mask.shape)}")
    if _use_triton(kernel, hidden, pool_mask):
        return _kernels().pool_normalize(hidden, pool_mask, normalize)
    return pool_torch(hidden, pool_mask, normalize)


# --- analogy scoring ---------------------------------------------------------------------
def _cosine_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine of two (N, H) tensors in fp32; a zero row gives 0."""
    a, b = a.float(), b.float()
    norm = a.norm(dim=-1) * b.norm(dim=-1)
    dot = (a * b).sum(-1)
    return torch.where(norm > 0, dot / torch.where(norm > 0, norm, torch.ones_like(norm)), torch.zeros_like(dot))


def analogy_scores_torch(queries, candidates, offsets, reversed_queries=None, reversed_candidates=None):
    """PyTorch reference of :func:`analogy_scores`."""
    offsets = offsets.to(device=queries.device, dtype=torch.int64)
    counts = offsets[1:] - offsets[:-1]
    owner = torch.repeat_interleave(torch.arange(len(counts), device=queries.device), counts)
    scores = _cosine_rows(queries[owner], candidates)
    if reversed_queries is not None:
        scores = scores * _cosine_rows(reversed_queries[owner], reversed_candidates)
    best = torch.full((len(counts),), -1, dtype=torch.int64, device=queries.device)
    if len(scores):
        # First maximum per question: sort by (question, -score, position) and take the head.
        position = torch.arange(len(scores), device=queries.device)
        padded = torch.full((len(counts), int(counts.max())), -float("inf"), device=queries.device)
        padded[owner, position - offsets[owner]] = scores
        has = counts > 0
        best[has] = padded[has].argmax(dim=1)  # torch.argmax returns the first maximal index
    return scores, best


def analogy_scores(
    queries: torch.Tensor,
    candidates: torch.Tensor,
    offsets: torch.Tensor,
    kernel: str = "auto",
    *,
    reversed_queries: torch.Tensor | None = None,
    reversed_candidates: torch.Tensor | None = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Score analogy questions with ragged candidate sets by cosine similarity.

    Args:
        queries: (Q, H) one vector per question (the stem pair).
        candidates: (C, H) every question's candidate vectors, concatenated.
        offsets: (Q + 1,) question q owns ``candidates[offsets[q]:offsets[q+1]]``.
        kernel: ``"auto"``, ``"triton"`` or ``"torch"`` 
        reversed_queries, reversed_candidates: vectors of the reversed pairs (tail, head);
            when given, each score is the forward cosine times the reversed cosine (the
            official ``bi_direction_pair``).

    Returns:
        ``(scores, best)``: (C,) float32 cosines (a zero vector scores 0) and (Q,) int64 index
        of the best candidate within each question (first on ties; -1 for no candidates).
    """
    if queries.dim() != 2 or candidates.dim() != 2 or queries.shape[1] != candidates.shape[1]:
        raise OptionError(f"analogy_scores: queries (Q, H) and candidates (C, H) expected; got {tuple(queries.shape)}, {tuple(candidates.shape)}")
    if offsets.shape != (queries.shape[0] + 1,):
        raise OptionError(f"analogy_scores: offsets must have Q + 1 = {queries.shape[0] + 1} entries, got {tuple(offsets.shape)}")
    if (reversed_queries is None) != (reversed_candidates is None):
        raise OptionError("analogy_scores: give both reversed_queries and reversed_candidates, or neither")
    if _use_triton(kernel, queries, candidates):
        return _kernels().analogy_scores(queries, candidates, offsets, reversed_queries, reversed_candidates)
    return analogy_scores_torch(queries, candidates, offsets, reversed_queries, reversed_candidates)


# --- top-k search ------------------------------------------------------------------------
def _cosine_tile_torch(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    q, k = queries.float(), keys.float()
    qn = q.norm(dim=-1, keepdim=True)
    q = q / torch.where(qn > 0, qn, torch.ones_like(qn))
    kn = torch.linalg.vector_norm(k, dim=-1)
    # Divide the (Q, tile) scores rather than normalizing the keys: no copy of the tile.
    return (q @ k.T) / torch.where(kn > 0, kn, torch.ones_like(kn))


#: Scores per tile on CUDA (Q x chunk fp32, 256 MB): few large tiles keep the matrix units busy
#: and the per-tile top-k and merge rare.
CUDA_TILE_SCORES = 1 << 26


def topk_chunk(n_queries: int, device: torch.device) -> int:
    """Keys per tile: 65,536 on CPU; on CUDA as many as fit :data:`CUDA_TILE_SCORES` scores."""
    if device.type == "cuda":
        return max(65536, CUDA_TILE_SCORES // max(1, n_queries))
    return 65536


def topk_cosine(
    queries: torch.Tensor, keys: torch.Tensor, k: int, kernel: str = "auto", chunk: Optional[int] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` keys most cosine-similar to each query.

    The collection is scanned in tiles of ``chunk`` rows with a running top-k, so memory is
    O(Q x chunk) even for millions of keys.

    Args:
        queries: (Q, H).
        keys: (N, H) the collection (may be a CPU tensor over a memory-mapped array).
        k: results per query; ``k > N`` returns N.
        kernel: ``"auto"``, ``"triton"`` or ``"torch"`` (the tile kernel). ``"auto"`` takes the torch tile (one matrix product) everywhere: on CUDA the
            Triton tile kernel measured slower than it at every shape tried (docs/performance.md, GPU), so it
            runs only when asked for.
        chunk: keys per tile (default :func:`topk_chunk`).

    Returns:
        ``(scores, indices)``: (Q, min(k, N)) float32 cosines, descending, and int64 key indices.
    """
    if queries.dim() != 2 or keys.dim() != 2 or queries.shape[1] != keys.shape[1]:
        raise OptionError(f"topk_cosine: queries (Q, H) and keys (N, H) expected; got {tuple(queries.shape)}, {tuple(keys.shape)}")
    if k < 1:
        raise OptionError(f"topk_cosine: k must be positive, got {k}")
    if kernel not in KERNELS:
        raise OptionError(f"unknown kernel {kernel!r}: choose one of {', '.join(KERNELS)}")
    tile_fn = _kernels().cosine_tile if kernel == "triton" else _cosine_tile_torch
    k = min(k, keys.shape[0])
    device = queries.device
    chunk = chunk or topk_chunk(queries.shape[0], device)
    best_scores = torch.empty((queries.shape[0], 0), dtype=torch.float32, device=device)
    best_index = torch.empty((queries.shape[0], 0), dtype=torch.int64, device=device)
    for start in range(0, keys.shape[0], chunk):
        tile = tile_fn(queries, keys[start : start + chunk].to(device))
        scores, index = torch.topk(tile, min(k, tile.shape[1]), dim=1)
        merged_scores = torch.cat([best_scores, scores], dim=1)
        merged_index = torch.cat([best_index, index + start], dim=1)
        # Stable sort keeps the earlier key first on ties.
        order = torch.sort(merged_scores, dim=1, descending=True, stable=True).indices[:, :k]
        best_scores, best_index = merged_scores.gather(1, order), merged_index.gather(1, order)
    return best_scores, best_index
