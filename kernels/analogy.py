"""Batched cosine scoring of analogy questions with ragged candidate sets.

Question q owns candidates ``offsets[q] : offsets[q+1]`` of a flat (C, H) matrix. One program
per question: it loads the query once, computes the cosine of each of its candidates (and,
for bidirectional scoring, multiplies by the reversed pairs' cosine), writes every score and
the index of the best candidate (first on ties, as Python's ``list.index(max(...))``).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import triton
import triton.language as tl


@triton.jit
def _cosine(a, b):
    dot = tl.sum(a * b, axis=0)
    norm = tl.sqrt(tl.sum(a * a, axis=0)) * tl.sqrt(tl.sum(b * b, axis=0))
    return tl.where(norm > 0, dot / norm, 0.0)


@triton.jit
def _analogy_kernel(
    q_ptr,  # (Q, H) queries, contiguous
    c_ptr,  # (C, H) candidates, contiguous
    qr_ptr,  # (Q, H) reversed queries (read only when BIDIRECTIONAL)
    cr_ptr,  # (C, H) reversed candidates (read only when BIDIRECTIONAL)
    offsets_ptr,  # (Q + 1,) int64: candidates of question q are offsets[q] .. offsets[q+1]-1
    scores_ptr,  # (C,) fp32 out
    best_ptr,  # (Q,) int64 out: index within the question, -1 when it has no candidates
    H,
    BIDIRECTIONAL: tl.constexpr,
    BLOCK_H: tl.constexpr,
):
    q = tl.program_id(0)
    cols = tl.arange(0, BLOCK_H)
    ok = cols < H
    start = tl.load(offsets_ptr + q)
    end = tl.load(offsets_ptr + q + 1)
    query = tl.load(q_ptr + q * H + cols, mask=ok, other=0.0).to(tl.float32)
    if BIDIRECTIONAL:
        query_r = tl.load(qr_ptr + q * H + cols, mask=ok, other=0.0).to(tl.float32)
    best_score = -float("inf")
    best = start * 0 - 1
    for c in range(start, end):
        cand = tl.load(c_ptr + c * H + cols, mask=ok, other=0.0).to(tl.float32)
        score = _cosine(query, cand)
        if BIDIRECTIONAL:
            cand_r = tl.load(cr_ptr + c * H + cols, mask=ok, other=0.0).to(tl.float32)
            score = score * _cosine(query_r, cand_r)
        tl.store(scores_ptr + c, score)
        better = score > best_score
        best = tl.where(better, c - start, best)
        best_score = tl.where(better, score, best_score)
    tl.store(best_ptr + q, best)


def analogy_scores(
    queries: torch.Tensor,
    candidates: torch.Tensor,
    offsets: torch.Tensor,
    reversed_queries: Optional[torch.Tensor] = None,
    reversed_candidates: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cosine of every candidate (C,) fp32 and best candidate per question (Q,) int64."""
    Q, H = queries.shape
    C = candidates.shape[0]
    bidirectional = reversed_queries is not None
    queries, candidates = queries.contiguous(), candidates.contiguous()
    qr = reversed_queries.contiguous() if bidirectional else queries
    cr = reversed_candidates.contiguous() if bidirectional else candidates
    offsets = offsets.to(device=queries.device, dtype=torch.int64).contiguous()
    scores = torch.zeros(C, dtype=torch.float32, device=queries.device)
    best = torch.full((Q,), -1, dtype=torch.int64, device=queries.device)
    if Q == 0:
        return scores, best
    _analogy_kernel[(Q,)](
        queries, candidates, qr, cr, offsets, scores, best, H,
        BIDIRECTIONAL=bidirectional, BLOCK_H=triton.next_power_of_2(max(H, 1)),
    )
    return scores, best
