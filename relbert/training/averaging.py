"""Checkpoint averaging: one model whose weights are the mean of several saved epochs.

``python -m relbert.training.averaging -o OUT FOLDER FOLDER [FOLDER ...]``

Averaging the weights of the last checkpoints of one run is a known remedy for a noisy
selection signal (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima"). The
folders are ``save_pretrained`` checkpoints of the same architecture, typically
``relbert-train --keep-epochs`` output (``OUTPUT/epochs/N``). Floating-point tensors are
averaged in float64 and written in their own dtype; any other tensor (integer buffers such as
position ids) must be equal in every folder. The config, tokenizer and other files come from
the last folder given. Score the result with ``relbert-eval validation``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Dict, List, Sequence, Union

import torch

from ..errors import UsageError
from ..atomic import atomic_folder

PathLike = Union[str, Path]


def _weight_files(folder: Path) -> List[str]:
    names = sorted(p.name for p in folder.glob("model*.safetensors"))
    if not names:
        raise UsageError(f"{folder}: no model*.safetensors (a save_pretrained checkpoint is needed)")
    return names


def average_state_dicts(states: Sequence[Dict[str, torch.Tensor]], names: Sequence[str]) -> Dict[str, torch.Tensor]:
    """The element-wise mean of state dicts with the same keys and shapes.

    Args:
        states: the state dicts, in order.
        names: one label per state dict, for error messages (its folder).

    Returns:
        Floating-point tensors averaged (in float64, cast back to their dtype); other tensors
        copied, after checking they are equal everywhere.

    Raises:
        ValueError: keys, shapes or dtypes differ, or a non-float tensor differs.
    """
    if len(states) < 2:
        raise UsageError("averaging needs at least two checkpoints")
    first, first_name = states[0], names[0]
    out = {}
    for state, name in zip(states[1:], names[1:]):
        if state.keys() != first.keys():
            missing = sorted(first.keys() - state.keys())
            extra = sorted(state.keys() - first.keys())
            raise UsageError(f"{name}: its tensors differ from {first_name}'s "
                             f"(missing {missing[:3]}, extra {extra[:3]})")
        for key, tensor in state.items():
            if tensor.shape != first[key].shape or tensor.dtype != first[key].dtype:
                raise UsageError(f"{name}: {key} is {tuple(tensor.shape)} {tensor.dtype}, "
                                 f"{first_name} has {tuple(first[key].shape)} {first[key].dtype}")
    for key, tensor in first.items():
        if tensor.is_floating_point():
            total = torch.zeros(tensor.shape, dtype=torch.float64)
            for state in states:
                total += state[key].to(torch.float64)
            out[key] = (total / len(states)).to(tensor.dtype)
        else:
            for state, name in zip(states[1:], names[1:]):
                if not torch.equal(state[key], tensor):
                    raise UsageError(f"{name}: {key} ({tensor.dtype}) differs from {first_name}'s and cannot be averaged")
            out[key] = tensor.clone()
    return out


def average_checkpoints(folders: Sequence[PathLike], output: PathLike) -> Path:
    """Write the weight average of ``save_pretrained`` checkpoints as a new checkpoint.

    Args:
        folders: two or more checkpoint folders of one architecture (e.g. ``OUTPUT/epochs/8``,
            ``OUTPUT/epochs/9``, ``OUTPUT/epochs/10``).
        output: the folder to write (must not exist yet). It is written beside itself under a
            temporary name and renamed into place when complete.

    Returns:
        The output folder. Its ``training_config.json`` (when the last folder has one) gains
        ``averaged_from``, the folders averaged.
    """
    from safetensors.torch import load_file, save_file

    folders = [Path(f) for f in folders]
    output = Path(output)
    if len(folders) < 2:
        raise UsageError("averaging needs at least two checkpoint folders")
    if output.exists():
        raise UsageError(f"{output} exists; choose a new folder")
    files = _weight_files(folders[0])
    for folder in folders[1:]:
        if _weight_files(folder) != files:
            raise UsageError(f"{folder}: its weight files {_weight_files(folder)} differ from {folders[0]}'s {files}")
    with atomic_folder(output) as tmp:  # the average appears whole or not at all
        shutil.copytree(folders[-1], tmp, ignore=shutil.ignore_patterns("model*.safetensors"), dirs_exist_ok=True)
        for file in files:  # a sharded checkpoint is averaged shard by shard (same names, same keys)
            states = [load_file(str(folder / file)) for folder in folders]
            averaged = average_state_dicts(states, [str(folder) for folder in folders])
            del states
            save_file(averaged, str(tmp / file), metadata={"format": "pt"})
        config = tmp / "training_config.json"
        if config.is_file():
            record = json.loads(config.read_text())
            record["averaged_from"] = [str(folder) for folder in folders]
            config.write_text(json.dumps(record, indent=2))
    return output
