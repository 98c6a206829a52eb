"""Top-k cosine search of queries (Q, H) over a collection (N, H), N up to millions.

The collection is processed in column tiles of ``chunk`` rows: a Triton kernel writes the
(Q, chunk) cosine tile (dot products and key norms in one pass over H), ``torch.topk`` keeps
the tile's best k, and a running top-k merges the tiles. Memory is O(Q x chunk), never O(Q x N).
"""
from __future__ import annotations


import torch
import triton
import triton.language as tl


@triton.jit
def _cosine_tile_kernel(
    q_ptr,  # (Q, H) queries, contiguous
    k_ptr,  # (N, H) keys (one chunk of the collection), contiguous
    out_ptr,  # (Q, N) fp32 cosines, contiguous
    Q,
    N,
    H,
    BLOCK_Q: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_H: tl.constexpr,
):
    pid_q = tl.program_id(0)
    pid_n = tl.program_id(1)
    rq = pid_q * BLOCK_Q + tl.arange(0, BLOCK_Q)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_Q, BLOCK_N), dtype=tl.float32)
    q_sq = tl.zeros((BLOCK_Q,), dtype=tl.float32)
    k_sq = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for start in range(0, H, BLOCK_H):
        rh = start + tl.arange(0, BLOCK_H)
        qt = tl.load(q_ptr + rq[:, None] * H + rh[None, :], mask=(rq[:, None] < Q) & (rh[None, :] < H), other=0.0).to(tl.float32)
        kt = tl.load(k_ptr + rn[:, None] * H + rh[None, :], mask=(rn[:, None] < N) & (rh[None, :] < H), other=0.0).to(tl.float32)
        acc += tl.dot(qt, tl.trans(kt), input_precision="ieee")
        q_sq += tl.sum(qt * qt, axis=1)
        k_sq += tl.sum(kt * kt, axis=1)
    norm = tl.sqrt(q_sq)[:, None] * tl.sqrt(k_sq)[None, :]
    cos = tl.where(norm > 0, acc / norm, 0.0)
    tl.store(out_ptr + rq[:, None] * N + rn[None, :], cos, mask=(rq[:, None] < Q) & (rn[None, :] < N))


def cosine_tile(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """(Q, N) fp32 cosine similarities of two row sets (zero rows give 0)."""
    Q, H = queries.shape
    N = keys.shape[0]
    out = torch.empty((Q, N), dtype=torch.float32, device=queries.device)
    if Q == 0 or N == 0:
        return out
    block_q, block_n, block_h = 16, 64, 64
    grid = (triton.cdiv(Q, block_q), triton.cdiv(N, block_n))
    _cosine_tile_kernel[grid](queries.contiguous(), keys.contiguous(), out, Q, N, H,
                              BLOCK_Q=block_q, BLOCK_N=block_n, BLOCK_H=block_h)
    return out
