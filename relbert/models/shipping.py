"""Fine-tuned models shipped inside the package as a small *delta* over a base encoder.

A delta folder (``relbert/default_model/`` for the embedded default, ``relbert/models/NAME/``
for a named model) holds ``weights.safetensors`` and ``default.json`` (base name,
``relbert_config``, how it was trained, its scores). The weights file stores, per tensor that
training changed, one of:

- ``NAME``: the whole new tensor (fp16);
- ``NAME@rows`` (int64 row indices) + ``NAME@values`` (those rows): a matrix of which training
  changed only some rows (the word embeddings: only tokens seen in training get gradients);
- ``NAME@up`` (out x r) + ``NAME@down`` (r x in): a low-rank change, ``W += up @ down`` (a LoRA
  adapter folded in, or a truncated SVD of a fully fine-tuned matrix's change).

Loading applies the delta over the base encoder in place and gives a normal
:class:`relbert.RelBERT`; ``save_pretrained`` then writes a standalone checkpoint. The maintainer
tool that writes deltas is :mod:`relbert.models.delta` (not imported at run time).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

import torch
from ..errors import ModelFolderError

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "default_model"
WEIGHTS = "weights.safetensors"
META = "default.json"
ROWS, VALUES = "@rows", "@values"  # suffixes of a row-sparse tensor's two parts
UP, DOWN = "@up", "@down"  # suffixes of a low-rank change's two factors
_PAIRS = ((ROWS, VALUES), (UP, DOWN))


def read_delta_meta(folder: Path = DEFAULT_DIR) -> Optional[dict]:
    """A delta folder's metadata (``default.json``), or None when the package carries none there."""
    folder = Path(folder)
    meta = folder / META
    if not (meta.is_file() and (folder / WEIGHTS).is_file()):
        return None
    return json.loads(meta.read_text(encoding="utf-8"))


def shipped_default() -> Optional[dict]:
    """The embedded default's metadata, or None when the package carries no fine-tuned default."""
    return read_delta_meta(DEFAULT_DIR)


def split_delta(shipped: Dict[str, torch.Tensor]):
    """``(dense, {name: (rows, values)}, {name: (up, down)})`` from a delta's stored tensors."""
    dense = {n: v for n, v in shipped.items() if "@" not in n}
    parts = []
    for first, second in _PAIRS:
        found = {}
        for name in shipped:
            if name.endswith(first):
                base = name[: -len(first)]
                if base + second not in shipped:
                    raise ModelFolderError(f"shipped delta: {name} without {base + second}")
                found[base] = (shipped[name], shipped[base + second])
        orphans = [n for n in shipped if n.endswith(second) and n[: -len(second)] not in found]
        if orphans:
            raise ModelFolderError(f"shipped delta: {orphans[0]} without its {first} part")
        parts.append(found)
    return dense, parts[0], parts[1]


def apply_delta(encoder: torch.nn.Module, folder: Path = DEFAULT_DIR) -> None:
    """Apply a shipped delta over the base encoder's tensors, in place (see the module doc)."""
    from safetensors.torch import load_file

    dense, sparse, low_rank = split_delta(load_file(str(Path(folder) / WEIGHTS)))
    params = encoder.state_dict()
    unknown = sorted((set(dense) | set(sparse) | set(low_rank)) - set(params))
    if unknown:
        raise ModelFolderError(f"shipped delta in {folder} does not fit the base encoder: unknown tensors {unknown[:3]}")
    with torch.no_grad():
        for name, value in dense.items():
            if params[name].shape != value.shape:
                raise ModelFolderError(f"shipped delta: {name} has shape {tuple(value.shape)}, base has {tuple(params[name].shape)}")
            params[name].copy_(value.to(params[name].dtype))
        for name, (rows, values) in sparse.items():
            target = params[name]
            if values.shape != (len(rows),) + tuple(target.shape[1:]) or (len(rows) and int(rows.max()) >= len(target)):
                raise ModelFolderError(f"shipped delta: rows of {name} do not fit the base shape {tuple(target.shape)}")
            target[rows] = values.to(target.dtype)
        for name, (up, down) in low_rank.items():
            target = params[name]
            if target.dim() != 2 or up.shape[0] != target.shape[0] or down.shape[1] != target.shape[1] \
                    or up.shape[1] != down.shape[0]:
                raise ModelFolderError(f"shipped delta: factors of {name} do not fit the base shape {tuple(target.shape)}")
            target += (up.float() @ down.float()).to(target.dtype)
