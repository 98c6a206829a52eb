"""Fine-tuning RelBERT:

- options and recipes (:mod:`.config`), what an epoch samples (:mod:`.sampling`), what is
  minimised (:mod:`.objective`: an epoch's items and an item's loss; :mod:`.losses`);
- prompts to vectors with gradients (:mod:`.encoding`: one pass, gradient caching, shared
  encodings; :mod:`.frozen` lower layers; :mod:`.lora`); distillation (:mod:`.distill`);
- training from Python in one call (:mod:`.api`: :func:`fit`, :func:`config_from_recipe`; the CLI
  calls them), the validation sets (:mod:`.validation`);
- the step and epoch loop (:mod:`.trainer`), the run's life on disk (:mod:`.run`: folder, resume,
  checkpoints, choosing the epoch; :mod:`.state`), several seeds (:mod:`.seeds`), checkpoint
  averaging (:mod:`.averaging`); torchrun is :mod:`relbert.runtime.distributed`.

The options and choice lists import without torch (the CLI reads them at start-up); the rest
is imported on first use.
"""
from .config import (LOSSES, LR_SCHEDULES, MEMORY_BUDGET_GB, SELECTIONS, TRAIN_PRECISIONS, VALIDATION_SETS, TrainConfig,
                     lr_factor, selection_score, should_stop)

_LAZY = {
    "Trainer": "trainer", "activation_bytes_per_token": "encoding", "GradientCachedEncoding": "encoding",
    "Objective": "objective", "RUN_FILES": "run", "TrainingRun": "run",
    "add_lora": "lora", "merged_lora_state": "lora",
    "RelationPools": "sampling", "build_pools": "sampling", "nce_items": "sampling", "shared_prompts": "sampling",
    "triplet_items": "sampling",
    "link_folder": "state", "load_state": "state", "save_state": "state", "RunParts": "state",
    "train_seeds": "seeds", "parse_seeds": "seeds",
    "fit": "api", "config_from_recipe": "config", "Validator": "validation", "build_validators": "validation",
}

__all__ = ["LOSSES", "LR_SCHEDULES", "MEMORY_BUDGET_GB", "SELECTIONS", "TRAIN_PRECISIONS", "VALIDATION_SETS",
           "TrainConfig", "lr_factor", "selection_score", "should_stop", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
