"""Run state on disk: safetensors + JSON, nothing pickled. A state folder is replaced whole
(never half-written); ``link_folder`` makes the selected model a set of hard links."""
from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from ..atomic import atomic_folder


@dataclass
class RunParts:
    """What a training run's state holds (saved after each epoch, restored by ``--resume``): the
    model being trained (its encoder's weights), the heads trained beside it (a classifier, a
    distillation map; None without), the optimiser, its schedule and the run's random stream."""
    relbert: Any
    heads: Optional[Any]
    optimizer: Any
    scheduler: Any
    rng: random.Random

    def save(self, folder: Path, progress: dict) -> None:
        save_state(folder, self.relbert.encoder, self.heads, self.optimizer, self.scheduler, self.rng, progress)

    def load(self, folder: Path) -> dict:
        """The saved progress record; the parts take the saved state in place."""
        return load_state(folder, self.relbert.encoder, self.heads, self.optimizer, self.scheduler, self.rng)


def save_state(folder: Path, model, classifier, optimizer, scheduler, rng: random.Random, progress: dict) -> None:
    from safetensors.torch import save_file, save_model

    with atomic_folder(folder) as tmp:  # the state folder is replaced whole: never half-written
        save_model(model, str(tmp / "model.safetensors"))
        if classifier is not None:
            save_model(classifier, str(tmp / "classifier.safetensors"))
        opt = optimizer.state_dict()
        tensors = {f"{idx}.{name}": value.contiguous() for idx, state in opt["state"].items()
                   for name, value in state.items()}
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        meta = {"param_groups": opt["param_groups"], "scheduler": scheduler.state_dict()["last_epoch"],
                "rng": rng_to_json(rng.getstate()), "progress": progress}
        (tmp / "state.json").write_text(json.dumps(meta, indent=1))


def load_state(folder: Path, model, classifier, optimizer, scheduler, rng: random.Random) -> dict:
    from safetensors.torch import load_file, load_model

    load_model(model, str(folder / "model.safetensors"))
    if classifier is not None:
        load_model(classifier, str(folder / "classifier.safetensors"))
    meta = json.loads((folder / "state.json").read_text())
    tensors = load_file(str(folder / "optimizer.safetensors"))
    state: Dict[int, dict] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    scheduler.last_epoch = meta["scheduler"]
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
    rng.setstate(rng_from_json(meta["rng"]))
    return meta["progress"]


def link_folder(source: Path, target: Path) -> None:
    """Make ``target`` hold ``source``'s files as hard links (copies where the file system has
    none), replacing it whole."""
    import shutil

    with atomic_folder(target) as tmp:
        for path in sorted(source.rglob("*")):
            dest = tmp / path.relative_to(source)
            if path.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, dest)
            except OSError:
                shutil.copy2(path, dest)


def rng_to_json(state):
    """A ``random.Random`` state as JSON-able lists."""
    version, internal, gauss = state
    return [version, list(internal), gauss]


def rng_from_json(state):
    """The inverse of :func:`rng_to_json`."""
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
