"""Frozen lower layers, computed once per prompt.

With ``freeze_layers = N`` the embeddings and the lowest N encoder layers do not train, so their
output for a prompt is the same at every step and every epoch. :class:`FrozenLower` computes it
once per distinct prompt (eval mode: no dropout in the frozen part) and runs only the upper
layers afterwards, for training and for validation alike: the forward pass and the backward pass
both shrink to the trained layers.

The upper part is a *view* of the Hugging Face encoder: a shallow copy whose embeddings module
returns the cached hidden states and whose layer list holds the upper layers only. It shares
every parameter with the real encoder, so what it trains is the model that is saved, and the
architecture's own forward (attention masks, MPNet's relative position bias) runs unchanged.
"""
from __future__ import annotations

import contextlib
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import OptionError

#: Where encoders keep their layer list: BERT, RoBERTa, MPNet, XLM-R (``encoder.layer``) and
#: DistilBERT (``transformer.layer``).
STACKS = ("encoder", "transformer")

Key = Tuple[int, ...]


def layer_stack(model: nn.Module) -> Tuple[str, nn.Module]:
    """``(attribute, module)`` of the encoder's layer stack (a module with a ``layer`` list)."""
    for name in STACKS:
        stack = getattr(model, name, None)
        if isinstance(getattr(stack, "layer", None), nn.ModuleList) and hasattr(model, "embeddings"):
            return name, stack
    raise OptionError(f"freeze_layers: {type(model).__name__} has no embeddings and encoder.layer stack to split")


def _view(model: nn.Module, layers: List[nn.Module], embeddings: Optional[nn.Module] = None) -> nn.Module:
    """A shallow copy of ``model`` running only ``layers`` (and ``embeddings`` in place of its
    own, where given); parameters are shared, not copied."""
    name, stack = layer_stack(model)
    new_stack = copy.copy(stack)
    new_stack._modules = dict(stack._modules)
    new_stack._modules["layer"] = nn.ModuleList(layers)
    view = copy.copy(model)
    view._modules = dict(model._modules)
    view._modules[name] = new_stack
    if embeddings is not None:
        view._modules["embeddings"] = embeddings
    return view


class _GivenHidden(nn.Module):
    """Stands in for the embeddings: returns the hidden states set on it (the frozen layers' output)."""

    def __init__(self):
        super().__init__()
        self.hidden: Optional[torch.Tensor] = None

    def forward(self, *args, **kwargs) -> torch.Tensor:
        return self.hidden


class FrozenLower:
    """The frozen embeddings + lowest ``n`` layers of ``model`` and their cached outputs.

    Freezes every parameter of ``model`` but the upper layers' (MPNet's shared relative position
    bias included: the cache must stay valid). ``upper`` is the module to train and run.
    """

    def __init__(self, model: nn.Module, n: int, device: torch.device, autocast_bf16: bool = False,
                 batch_size: int = 64, cache: Optional[Dict[Key, torch.Tensor]] = None):
        _, stack = layer_stack(model)
        layers = list(stack.layer)
        if not 0 < n < len(layers):
            raise OptionError(f"freeze_layers must be between 1 and {len(layers) - 1} for this encoder "
                             f"({len(layers)} layers), got {n}")
        for param in model.parameters():
            param.requires_grad_(False)
        for layer in layers[n:]:
            for param in layer.parameters():
                param.requires_grad_(True)
        self.n, self.device, self.autocast_bf16, self.batch_size = n, device, autocast_bf16, batch_size
        self.lower = _view(model, layers[:n])
        self.given = _GivenHidden()
        self.upper = _view(model, layers[n:], embeddings=self.given)
        # prompt ids -> (length, hidden) output of the frozen part; may be shared by runs that
        # freeze the same layers of the same starting weights (the seeds of one selection)
        self.cache: Dict[Key, torch.Tensor] = {} if cache is None else cache
        self.computed = 0  # prompts run through the frozen layers (each once)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.autocast_bf16 else contextlib.nullcontext()

    def ensure(self, ids: Sequence[Sequence[int]], pad) -> None:
        """Compute and keep the frozen layers' output of every prompt not cached yet.

        Args:
            ids: token id lists.
            pad: ``pad(ids) -> batch`` (:meth:`relbert.PairTokenizer.pad`).
        """
        missing = list(dict.fromkeys(tuple(row) for row in ids if tuple(row) not in self.cache))
        if not missing:
            return
        missing.sort(key=len)  # length-sorted batches: little padding
        was_training = self.lower.training
        self.lower.eval()
        try:
            with torch.inference_mode(), self.autocast():
                for start in range(0, len(missing), self.batch_size):
                    rows = missing[start : start + self.batch_size]
                    batch = pad(rows)
                    hidden = self.lower(input_ids=torch.from_numpy(batch["input_ids"]).to(self.device),
                                        attention_mask=torch.from_numpy(batch["attention_mask"]).to(self.device)
                                        ).last_hidden_state.float()
                    if self.autocast_bf16:  # the upper layers compute in bf16 anyway: half the memory
                        hidden = hidden.to(torch.bfloat16)
                    for row, key in enumerate(rows):
                        self.cache[key] = hidden[row, : len(key)].clone()
        finally:
            self.lower.train(was_training)
        self.computed += len(missing)

    def set_batch(self, ids: Sequence[Sequence[int]], width: int) -> None:
        """Hand the cached outputs of ``ids`` (padded with zeros to ``width``) to the upper layers."""
        rows = [self.cache[tuple(row)] for row in ids]
        hidden = torch.zeros((len(rows), width, rows[0].shape[-1]), dtype=torch.float32, device=rows[0].device)
        for i, row in enumerate(rows):
            hidden[i, : len(row)] = row
        self.given.hidden = hidden


class FrozenEmbedder:
    """``embed(pairs)`` of a model being trained with frozen lower layers, through the cache: the
    validation sets' prompts (and, with an offset weight, their words) run through the frozen
    layers once per run, and each epoch's validation costs the upper layers only. It is
    :meth:`relbert.RelBERT.embed_prompts` (the one embed loop) over a runtime that takes the lower
    layers' output from the cache: the same vectors as ``RelBERT.embed`` of the saved model (in
    eval mode; up to the autocast precision)."""

    workers = 1  # the runtime's part: one batch at a time

    def __init__(self, relbert, frozen: FrozenLower, pooled):
        self.relbert, self.frozen, self.pooled = relbert, frozen, pooled

    def describe(self):
        return self.relbert.describe()

    def __call__(self, input_ids, attention_mask, pool_mask, normalize: bool = False, one_position=None):
        """The runtime's call: the batch's rows through the cache, then the upper layers."""
        lengths = attention_mask.sum(1).tolist()
        rows = [input_ids[i, :n].tolist() for i, n in enumerate(lengths)]
        self.frozen.ensure(rows, self.relbert.tokenizer.pad)  # rows not seen before: the lower layers once
        self.frozen.set_batch(rows, input_ids.shape[1])
        try:
            return self.pooled(input_ids, attention_mask, pool_mask, normalize=normalize).float()
        finally:
            self.frozen.given.hidden = None

    def embed(self, pairs, batch_size: Optional[int] = None, normalize: bool = True, show_progress: bool = False):
        with self.frozen.autocast():
            prompts, inverse = self.relbert.prompts(pairs)
            return self.relbert.embed_prompts(prompts, batch_size=batch_size or 64, normalize=normalize,
                                              show_progress=show_progress, runtime=self)[inverse]
