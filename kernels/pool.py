"""Fused masked pooling + L2 normalization: (B, L, H) hidden states -> (B, H) float32.

One program per row: it walks the sequence in BLOCK_L tiles, accumulates the masked sum in
fp32 over the whole hidden size (BLOCK_H = next power of two >= H, masked), then divides by
the L2 norm in registers before a single store. Rows with an empty mask stay zero.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _pool_normalize_kernel(
    hidden_ptr,  # (B, L, H) fp32/fp16/bf16, strides (stride_hb, stride_hl, 1)
    mask_ptr,  # (B, L) any integer/float dtype, strides (stride_mb, 1); nonzero = pooled
    out_ptr,  # (B, H) fp32, contiguous
    L,
    H,
    stride_hb,
    stride_hl,
    stride_mb,
    NORMALIZE: tl.constexpr,
    BLOCK_L: tl.constexpr,
    BLOCK_H: tl.constexpr,
):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_H)
    col_ok = cols < H
    acc = tl.zeros((BLOCK_H,), dtype=tl.float32)
    for start in range(0, L, BLOCK_L):
        pos = start + tl.arange(0, BLOCK_L)
        pos_ok = pos < L
        weight = tl.load(mask_ptr + row * stride_mb + pos, mask=pos_ok, other=0).to(tl.float32)
        weight = tl.where(weight != 0, 1.0, 0.0)
        tile = tl.load(
            hidden_ptr + row * stride_hb + pos[:, None] * stride_hl + cols[None, :],
            mask=pos_ok[:, None] & col_ok[None, :],
            other=0.0,
        ).to(tl.float32)
        acc += tl.sum(tile * weight[:, None], axis=0)
    if NORMALIZE:
        norm = tl.sqrt(tl.sum(acc * acc, axis=0))
        acc = acc / tl.where(norm > 0, norm, 1.0)
    tl.store(out_ptr + row * H + cols, acc, mask=col_ok)


def pool_normalize(hidden: torch.Tensor, pool_mask: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Masked sum of ``hidden`` (B, L, H) over ``pool_mask`` (B, L), optionally L2-normalized; fp32 (B, H)."""
    B, L, H = hidden.shape
    if hidden.stride(2) != 1:
        hidden = hidden.contiguous()
    if pool_mask.dtype == torch.bool:
        pool_mask = pool_mask.to(torch.uint8)
    if pool_mask.stride(1) != 1:
        pool_mask = pool_mask.contiguous()
    out = torch.empty((B, H), dtype=torch.float32, device=hidden.device)
    if B == 0:
        return out
    if L == 0 or H == 0:
        return out.zero_()
    block_h = triton.next_power_of_2(H)
    # Keep the (BLOCK_L, BLOCK_H) tile around 8K elements: registers on GPU, speed in the interpreter.
    block_l = max(1, min(triton.next_power_of_2(L), 8192 // block_h))
    _pool_normalize_kernel[(B,)](
        hidden, pool_mask, out, L, H, hidden.stride(0), hidden.stride(1), pool_mask.stride(0),
        NORMALIZE=normalize, BLOCK_L=block_l, BLOCK_H=block_h,
    )
    return out
