"""Reference rows for every report.

- ``vanilla``: the untrained encoder with the template (the paper's "vanilla LM" row) — that
  is just :class:`relbert.RelBERT` on a plain encoder, so it needs no class here.
- ``diff``: word-vector difference. Each word is encoded alone and mean-pooled over its
  tokens (special tokens excluded); a pair's vector is tail minus head.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

Pair = Tuple[str, str]


class WordDiffBaseline:
    """Embedder whose pair vector is ``vec(tail) - vec(head)`` from the model's encoder."""

    def __init__(self, model):
        self.model = model  # a RelBERT: its encoder, tokenizer and device are reused

    def describe(self) -> Dict[str, str]:
        return {"model": self.model.display_name, "baseline": "diff", "template": None, "aggregation": "mean of word tokens"}

    def word_vectors(self, words: List[str], batch_size: int = 128) -> np.ndarray:
        tok, encoder, device = self.model.hf_tokenizer, self.model.model, self.model.device
        out = np.empty((len(words), self.model.hidden_size), dtype=np.float32)
        order = np.argsort([len(w) for w in words], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(words), batch_size):
                rows = order[start : start + batch_size]
                enc = tok([words[i] for i in rows], padding=True, return_tensors="pt", return_special_tokens_mask=True)
                special = enc.pop("special_tokens_mask")
                hidden = encoder(**{k: v.to(device) for k, v in enc.items()}).last_hidden_state
                keep = (enc["attention_mask"].bool() & ~special.bool()).to(device).float()
                summed = torch.bmm(keep.unsqueeze(1), hidden.float()).squeeze(1)
                out[rows] = (summed / keep.sum(1, keepdim=True).clamp(min=1)).cpu().numpy()
        return out

    def embed(self, pairs: Sequence[Pair], *, batch_size: int = 128, normalize: bool = True, show_progress: bool = False) -> np.ndarray:
        words = list(dict.fromkeys(w for pair in pairs for w in pair))
        index = {w: i for i, w in enumerate(words)}
        vectors = self.word_vectors(words, batch_size)
        diff = np.stack([vectors[index[t]] - vectors[index[h]] for h, t in pairs]) if pairs else np.zeros((0, vectors.shape[1]), np.float32)
        if normalize:
            norm = np.linalg.norm(diff, axis=1, keepdims=True)
            diff = np.where(norm > 0, diff / np.where(norm > 0, norm, 1), 0).astype(np.float32)
        return diff
