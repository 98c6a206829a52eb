"""Fine-tuning RelBERT: options (:mod:`.config`), what an epoch samples (:mod:`.sampling`), run
state on disk (:mod:`.state`), LoRA (:mod:`.lora`), frozen lower layers (:mod:`.frozen`), the
trainer (:mod:`.trainer`) and the choice among seeds (:mod:`.seeds`).

The options and choice lists import without torch (the CLI reads them at start-up); the rest
is imported on first use.
"""
from .config import (LOSSES, LR_SCHEDULES, MEMORY_BUDGET_GB, SELECTIONS, TRAIN_PRECISIONS, VALIDATION_SETS, TrainConfig,
                     lr_factor, selection_score, should_stop)

_LAZY = {
    "Trainer": "trainer", "activation_bytes_per_token": "trainer",
    "add_lora": "lora", "merged_lora_state": "lora",
    "RelationPools": "sampling", "build_pools": "sampling", "nce_items": "sampling", "shared_prompts": "sampling",
    "triplet_items": "sampling",
    "link_folder": "state", "load_state": "state", "save_state": "state",
    "train_seeds": "seeds", "parse_seeds": "seeds",
}

__all__ = ["LOSSES", "LR_SCHEDULES", "MEMORY_BUDGET_GB", "SELECTIONS", "TRAIN_PRECISIONS", "VALIDATION_SETS",
           "TrainConfig", "lr_factor", "selection_score", "should_stop", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
