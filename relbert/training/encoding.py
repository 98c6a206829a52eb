"""Prompts to pooled vectors with gradients, at a bounded memory: the training side of the encoder.

- **One pass where memory allows.** A step's prompts are encoded in one forward pass when their
  activations fit ``memory_budget_gb`` (or ``chunk_size`` prompts when given); only a larger step
  is cut into length-sorted chunks with gradient caching (embed without graph, take d loss / d
  vector, re-embed chunk by chunk and backpropagate), so peak memory does not grow with
  ``num_negative``.
- **Shared encodings** (``share_encodings``): a step of several relations encodes the union of
  their prompts once and scores every relation's term from one embedding matrix: the same loss
  as the relations accumulated one by one, with fewer encodings.
- **Frozen lower layers** (``freeze_layers``): their output per prompt is computed once
  (:mod:`relbert.training.frozen`), for training and validation prompts alike.
- Dropout is re-seeded from the caller's seed before each forward pass (a resumed or torchrun
  run computes what one uninterrupted process computes).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..runtime.torch_runtime import TorchEncoder
from .frozen import FrozenEmbedder, FrozenLower
from .sampling import shared_prompts

Pair = Tuple[str, str]


def activation_bytes_per_token(config, trained_layers: int, length: int) -> int:
    """Bytes of activations one token keeps for the backward pass: per trained transformer
    layer about ``68 h + 10 a L`` in fp32 (Korthikanti et al. 2022, doubled from 16 bits), for
    hidden size h, a heads and sequence length L."""
    hidden = int(getattr(config, "hidden_size", 768))
    heads = int(getattr(config, "num_attention_heads", 12))
    return trained_layers * (68 * hidden + 10 * heads * length)


class GradientCachedEncoding:
    """The trained encoder of ``relbert`` (a :class:`relbert.RelBERT`) as a function of prompts,
    with gradients; ``encoded`` counts prompt passes through the trained layers (gradient caching
    runs two)."""

    def __init__(self, relbert, config, bf16: bool, lower_cache: Optional[dict] = None):
        self.relbert, self.config, self.bf16 = relbert, config, bf16
        self.encoder, self.device = relbert.encoder, relbert.device
        self.frozen: Optional[FrozenLower] = None
        trained_layers = int(getattr(self.encoder.config, "num_hidden_layers", 12))
        if config.freeze_layers:
            self.frozen = FrozenLower(self.encoder, config.freeze_layers, self.device, autocast_bf16=bf16,
                                      cache=lower_cache)
            trained_layers -= config.freeze_layers
        self._bytes_per_token = lambda length: activation_bytes_per_token(self.encoder.config, trained_layers, length)
        # the full forward (the mask shortcut skips the last layer's dropout: inference only)
        module = self.frozen.upper if self.frozen is not None else self.encoder
        self.pooled = TorchEncoder(module, None, mode="full", device=self.device)
        self._ids: Dict[Pair, List[int]] = {}
        self.encoded = 0

    def prepare(self, pairs: Sequence[Pair]) -> None:
        """Tokenize ``pairs`` once (validated for length) and, with frozen layers, run them through
        the frozen part once."""
        self._ids.update(zip(pairs, self.relbert.tokenizer.token_ids(pairs)))
        if self.frozen is not None:
            self.frozen.ensure(self.ids_of(pairs), self.relbert.tokenizer.pad)

    def ids_of(self, pairs: Sequence[Pair]) -> List[List[int]]:
        """Token ids per pair, tokenized once and cached."""
        missing = [p for p in pairs if p not in self._ids]
        if missing:
            self._ids.update(zip(missing, self.relbert.tokenizer.token_ids(missing)))
        return [self._ids[p] for p in pairs]

    def autocast(self):
        """bf16 autocast for the encoder where the chosen precision is bf16 (fp32 weights, fp32 losses)."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def embed(self, pairs: Sequence[Pair], seed: int) -> torch.Tensor:
        """Raw pooled vectors (with graph if grad is enabled); dropout seeded by ``seed``."""
        torch.manual_seed(seed)
        ids = self.ids_of(pairs)
        batch = self.relbert.tokenizer.pad(ids)
        if self.frozen is not None:
            self.frozen.set_batch(ids, batch["input_ids"].shape[1])
        self.encoded += len(pairs)
        with self.autocast():
            vectors = self.pooled(*self.pooled.tensors(batch)).float()
        if self.frozen is not None:
            self.frozen.given.hidden = None
        return vectors

    def chunk_size(self, pairs: Sequence[Pair]) -> int:
        """Prompts per forward pass: ``chunk_size`` when given, else as many of these prompts as
        the memory budget holds (every prompt, where they fit: then no gradient caching)."""
        if self.config.chunk_size is not None:
            return self.config.chunk_size
        longest = max(len(ids) for ids in self.ids_of(pairs))
        per_prompt = self._bytes_per_token(longest) * longest
        return max(1, int(self.config.memory_budget_gb * 2 ** 30 // per_prompt))

    def word_offsets(self, pairs: Sequence[Pair], seed: int) -> torch.Tensor:
        """``(N, h)`` word offsets ``w_tail - w_head`` of ``pairs`` from the trained encoder, each word
        alone with its special tokens, the mean of its own tokens (:mod:`relbert.offsets`' definition);
        with graph when grad is enabled. Each distinct word is encoded once."""
        from ..offsets import WordSpans

        torch.manual_seed(seed)
        words = WordSpans.of_pairs(pairs, self.relbert.tokenizer)
        rows = np.arange(words.count)
        batch = self.relbert.tokenizer.pad_word_rows(words.ids, words.offsets, words.pooled, rows)
        with self.autocast():
            summed = self.pooled(*self.pooled.tensors(batch)).float()
        counts = torch.as_tensor(batch["pool_mask"], device=summed.device).sum(dim=1, keepdim=True).clamp(min=1)
        vectors = summed / counts
        head = torch.as_tensor(words.head, device=summed.device)
        tail = torch.as_tensor(words.tail, device=summed.device)
        return vectors[tail] - vectors[head]

    def combined(self, pairs: List[Pair], loss_fn: Callable[[torch.Tensor], torch.Tensor], seed: int
                 ) -> Callable[[torch.Tensor], torch.Tensor]:
        """``loss_fn`` made to see the relation + offset vectors of ``pairs`` at the config's λ (the
        offsets computed now; with ``offset_gradient="relation"`` as constants), or ``loss_fn`` itself
        at λ = 0."""
        from .losses import combined_vectors

        weight = float(getattr(self.config, "offset_weight", 0.0) or 0.0)
        if weight == 0:
            return loss_fn
        if self.config.offset_gradient == "relation":
            with torch.no_grad():
                offset = self.word_offsets(pairs, seed + 7919)
        else:
            offset = self.word_offsets(pairs, seed + 7919)
        return lambda vectors: loss_fn(combined_vectors(vectors, offset, weight))

    def backward(self, pairs: List[Pair], loss_fn: Callable[[torch.Tensor], torch.Tensor], seed: int) -> float:
        """loss_fn(vectors of pairs).backward(), chunked with gradient caching when large; the loss.
        With an offset weight the loss sees the relation + offset vectors (:meth:`combined`)."""
        loss_fn = self.combined(pairs, loss_fn, seed)
        ids = self.ids_of(pairs)
        size = self.chunk_size(pairs)
        if len(pairs) <= size:
            loss = loss_fn(self.embed(pairs, seed))
            loss.backward()
            return float(loss.detach())
        order = sorted(range(len(pairs)), key=lambda i: len(ids[i]))  # length-sorted chunks
        chunks = [order[s : s + size] for s in range(0, len(order), size)]
        with torch.no_grad():
            parts = [self.embed([pairs[i] for i in chunk], seed * 1000 + k) for k, chunk in enumerate(chunks)]
        cached = torch.empty(len(pairs), parts[0].shape[1], device=self.device)
        for chunk, part in zip(chunks, parts):
            cached[torch.tensor(chunk, device=self.device)] = part
        cached.requires_grad_(True)
        loss = loss_fn(cached)
        loss.backward()
        for k, chunk in enumerate(chunks):
            vectors = self.embed([pairs[i] for i in chunk], seed * 1000 + k)
            vectors.backward(cached.grad[torch.tensor(chunk, device=self.device)])
        return float(loss.detach())

    def backward_shared(self, items: Sequence[Tuple[List[Pair], int]], item_loss, seed: int) -> float:
        """Several items' losses (``item_loss(pairs, n)``) from one encoding of the union of their
        prompts (summed, as accumulated steps would sum them); returns the summed loss."""
        union, rows = shared_prompts(items)
        fns = [(torch.tensor(r, device=self.device), item_loss(pairs, n)) for r, (pairs, n) in zip(rows, items)]

        def loss_fn(vectors):
            return sum(fn(vectors[index]) for index, fn in fns)

        return self.backward(union, loss_fn, seed)

    def embedder(self):
        """What validation embeds with: the model itself, or with frozen lower layers the cached
        path (:class:`relbert.training.frozen.FrozenEmbedder`: the same function)."""
        if self.frozen is None:
            return self.relbert
        return FrozenEmbedder(self.relbert, self.frozen, self.pooled)
