"""Saving a model: the standalone checkpoint :meth:`relbert.RelBERT.save_pretrained` writes.

The folder is what :mod:`relbert.models.loading` reads back, and what the official ``relbert``
package loads with the same template and aggregation: ``config.json`` with the
``relbert_config`` block, the tokenizer files, safetensors weights (always: loading a
``pytorch_model.bin`` and saving converts it) and a model card, ``README.md`` (:mod:`relbert.models.card`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Union

import torch

from ..atomic import give_default_mode
from .parts import load_fp32_encoder, quiet_transformers


def save_model(model, save_directory: Union[str, Path], state_dict: Optional[Dict[str, torch.Tensor]] = None) -> None:
    """Write ``model`` (a :class:`relbert.RelBERT`) to ``save_directory`` (created).

    ``state_dict``: weights to write instead of the encoder's own (the trainer passes LoRA-merged
    ones). A model running at a reduced precision (bf16, int8, ONNX Runtime) writes the fp32
    weights it was loaded from: reloaded from where it came from, or the fp32 copy
    :meth:`relbert.RelBERT.from_parts` kept.
    """
    save_directory = Path(save_directory)
    encoder = getattr(model.encoder, "_orig_mod", model.encoder)  # the module behind torch.compile
    if model.precision != "fp32" and state_dict is None:
        encoder = model._fp32_encoder if model._source is None else load_fp32_encoder(model._source)
    save_directory.mkdir(parents=True, exist_ok=True)
    encoder.config.relbert_config = model.relbert_config()
    with quiet_transformers():  # no "Writing model shards" bar
        encoder.save_pretrained(save_directory, state_dict=state_dict)
    model.hf_tokenizer.save_pretrained(save_directory)
    for written in save_directory.glob("model*.safetensors*"):  # transformers writes them 0600
        give_default_mode(written)
    from .card import facts_of, write_card

    write_card(save_directory, facts_of(model))  # README.md: what the model is and how to load it
