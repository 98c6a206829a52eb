"""The paper's pooling computed by hand from the untouched HF encoder: the reference for embed."""
from __future__ import annotations

import torch

from relbert.templates import fill_template


def hand_pooled(model, pair, aggregation):
    """The paper's aggregation computed from raw hidden states of the HF tokenizer's ids."""
    hf = model.hf_tokenizer
    prompt = fill_template(model.template, pair[0], pair[1], hf.mask_token)
    enc = hf(prompt, return_tensors="pt")
    with torch.no_grad():
        hidden = model.encoder(**enc).last_hidden_state[0].double()  # (L, H), one prompt: no padding
    ids = enc["input_ids"][0].tolist()
    mask_pos = ids.index(hf.mask_token_id)
    if aggregation == "mask":
        return hidden[mask_pos].numpy()
    if aggregation == "average":
        return hidden.sum(0).numpy()
    return (hidden.sum(0) - hidden[mask_pos]).numpy()
