"""Inference shortcut for ``mask`` pooling: the last encoder layer evaluated at the mask token only.

With ``mask`` pooling the relation vector is the last layer's output at a single position.
Every earlier layer still needs all positions (they feed the last layer's keys and values),
but the last layer's query, attention output and feed-forward network are needed at that
one position: 10 of the layer's 12 h^2 multiply-adds per token are skipped for every other
token (about 14% of a 6-layer MiniLM's encoder FLOPs, 3.5% of a 24-layer model's).

The shortcut re-implements one post-LayerNorm BERT-family layer (BERT, RoBERTa, XLM-R,
ELECTRA, MiniLM share it) from the layer's own submodules, so it works unchanged on fp32,
bf16 and int8-quantized encoders. It is switched on only after a self-check on a probe batch
matches the full forward of the encoder that runs (:func:`relbert.runtime.torch_runtime.shortcut_holds`); any
other architecture keeps the full forward.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def _bert_layers(encoder) -> Optional[nn.ModuleList]:
    """The encoder's layer list when it has the BERT-family layout this module knows, else None."""
    config = getattr(encoder, "config", None)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if config is None or not isinstance(layers, nn.ModuleList) or len(layers) == 0:
        return None
    if getattr(config, "is_decoder", False) or getattr(config, "position_embedding_type", "absolute") not in (
            None, "absolute"):
        return None  # relative position terms enter the attention scores: not re-implemented here
    last = layers[-1]
    try:
        att = last.attention
        parts = (att.self.query, att.self.key, att.self.value, att.self.num_attention_heads,
                 att.self.attention_head_size, att.output.dense, att.output.LayerNorm,
                 last.intermediate, last.output.dense, last.output.LayerNorm)
    except AttributeError:
        return None
    return layers if all(p is not None for p in parts) else None


class MaskOnlyLastLayer(nn.Module):
    """Stands in for the last layer during one forward call; returns ``(B, 1, H)`` at ``positions``.

    Args:
        layer: the encoder's last layer (BERT-family, post-LayerNorm).
        positions: ``(B,)`` int64, the mask token's index in each row.
        attention_mask: ``(B, L)`` 1 for real tokens, 0 for padding.
    """

    def __init__(self, layer: nn.Module, positions: torch.Tensor, attention_mask: torch.Tensor):
        super().__init__()
        self.layer = layer
        self.positions = positions
        self.keep = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, L): True = attend

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        att = self.layer.attention
        heads, size = att.self.num_attention_heads, att.self.attention_head_size
        batch, length, _ = hidden_states.shape
        rows = torch.arange(batch, device=hidden_states.device)
        at_mask = hidden_states[rows, self.positions].unsqueeze(1)  # (B, 1, H)
        q = att.self.query(at_mask).view(batch, 1, heads, size).transpose(1, 2)
        k = att.self.key(hidden_states).view(batch, length, heads, size).transpose(1, 2)
        v = att.self.value(hidden_states).view(batch, length, heads, size).transpose(1, 2)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=self.keep)  # (B, heads, 1, size)
        context = context.transpose(1, 2).reshape(batch, 1, heads * size)
        attended = att.output.LayerNorm(att.output.dense(context) + at_mask)
        out = self.layer.output
        return out.LayerNorm(out.dense(self.layer.intermediate(attended)) + attended)


class MaskShortcut:
    """Runs an encoder with its last layer evaluated only at the mask positions (see module doc).

    Each call swaps the last layer (and the unused pooler) for the duration of the forward and
    restores them afterwards, also on errors; like the model itself, not for concurrent calls
    from several threads.
    """

    def __init__(self, encoder: nn.Module):
        self.encoder = encoder
        self.layers = _bert_layers(encoder)

    @property
    def available(self) -> bool:
        return self.layers is not None

    @contextmanager
    def _swapped(self, positions: torch.Tensor, attention_mask: torch.Tensor):
        last = self.layers[-1]
        pooler = getattr(self.encoder, "pooler", None)
        self.layers[-1] = MaskOnlyLastLayer(last, positions, attention_mask)
        if pooler is not None:
            self.encoder.pooler = None  # its output is never used for relation vectors
        try:
            yield
        finally:
            self.layers[-1] = last
            if pooler is not None:
                self.encoder.pooler = pooler

    def hidden_at(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Last hidden state at ``positions``: ``(B, 1, H)``, as the full forward would give it."""
        with self._swapped(positions, attention_mask):
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
