"""Training options (:class:`TrainConfig`), their choice lists, and the rules that use validation:
the learning-rate schedule, the selection score and early stopping. No torch, no model: the CLI
imports the choice lists from here."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import OptionError, ResumeError

LOSSES = ("nce", "iloob", "triplet")
#: Epoch-selection signals: ``balanced`` (the default: every validation set counts once, reported
#: with its standard error), ``mean`` (the same number, its earlier name) and ``weighted`` (by
#: each set's number of questions, which lets the largest set dominate).
SELECTIONS = ("balanced", "mean", "weighted")
LR_SCHEDULES = ("constant", "linear", "cosine")
#: Training precisions: ``auto`` is bf16 autocast where the hardware computes bf16 natively,
#: fp32 elsewhere (see :mod:`relbert.runtime.precision`).
TRAIN_PRECISIONS = ("auto", "fp32", "bf16")
#: Distillation losses between the student's (mapped) vector and the teacher's.
DISTILL_LOSSES = ("cosine", "mse")
#: Default validation sets of relbert-train and relbert-eval validation.
VALIDATION_SETS = ("semeval", "u2", "u4", "google", "bats")
#: Where the combined vector's gradient flows: both halves, or the relation half only.
OFFSET_GRADIENTS = ("both", "relation")
#: Default memory for one pass's activations (GiB): a step whose prompts fit is encoded in one
#: pass; a larger one is cut into chunks with gradient caching.
MEMORY_BUDGET_GB = 6.0


#: What ``relbert-train`` runs without recipe options (``fast``, the default: the settings this
#: project chose on validation, docs/training.md) or with ``--recipe paper`` (the paper's). An
#: option given on the command line overrides its recipe value; template and aggregation also
#: default to a trained starting model's own (fine-tuning must not change how it reads pairs).
RECIPES: Dict[str, Dict[str, object]] = {
    "fast": {"template": "d", "aggregation": "mask", "num_negative": 100, "lr": 2e-5, "lr_schedule": "constant",
             "epochs": 5, "patience": 2, "freeze_layers": 0, "precision": "auto"},
    "paper": {"template": "d", "aggregation": "average_no_mask", "num_negative": 400, "lr": 5e-6,
              "lr_schedule": "constant", "epochs": 10, "patience": 0, "freeze_layers": 0, "precision": "fp32"},
}


def resolve_recipe(recipe: str, given: Dict[str, object], start_template: Optional[str] = None,
                   start_aggregation: Optional[str] = None) -> Dict[str, object]:
    """The recipe's values with the given (non-None) options over them; a trained starting model's
    template and aggregation (``start_*``) come before the recipe's."""
    if recipe not in RECIPES:
        raise OptionError(f"unknown recipe {recipe!r}: choose one of {', '.join(RECIPES)}")
    values = dict(RECIPES[recipe])
    if start_template is not None:
        values["template"] = start_template
    if start_aggregation is not None:
        values["aggregation"] = start_aggregation
    values.update({k: v for k, v in given.items() if v is not None})
    return values


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """The learning-rate multiplier at optimiser step ``step`` (0-based): linear warmup over
    ``warmup`` steps, then constant, or a linear / cosine decay reaching 0 at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return 1.0
    done = min(1.0, (step - warmup) / (total - warmup))
    if schedule == "linear":
        return 1.0 - done
    return 0.5 * (1.0 + math.cos(math.pi * done))


def check_resume(saved: Dict, current: Dict) -> bool:
    """Whether a resumed run may continue with ``current`` options; True when it is extended.

    Every option must match the interrupted run's, except that ``epochs`` may grow under the
    constant learning-rate schedule: the steps already taken are then exactly those of a run
    started with the larger number (a decaying schedule is planned for the original length).
    """
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if not changed:
        return False
    if changed == ["epochs"] and current["epochs"] > saved["epochs"]:
        if current.get("lr_schedule") == "constant":
            return True
        raise ResumeError(f"--resume: --epochs can grow from {saved['epochs']} to {current['epochs']} only with "
                          f"--lr-schedule constant (the {current.get('lr_schedule')} decay was planned for "
                          f"{saved['epochs']} epochs)")
    raise ResumeError(f"--resume: the options differ from the interrupted run ({', '.join(changed)})")


def selection_score(scores: Dict[str, float], sizes: Dict[str, int], selection: str) -> float:
    """The number that chooses the epoch: the mean of the validation accuracies, each set counting
    once (``balanced``, or its earlier name ``mean``), or their mean weighted by each set's number
    of questions (``weighted``)."""
    if selection == "weighted":
        total = sum(sizes.get(name, 1) for name in scores)
        return float(sum(scores[name] * sizes.get(name, 1) for name in scores) / total)
    return float(sum(scores.values()) / len(scores))


def selection_se(scores: Dict[str, float], sizes: Dict[str, int], selection: str) -> float:
    """Standard error (in points) of :func:`selection_score`, from each set's accuracy p and
    number of questions n: the large-sample value of a bootstrap that resamples each set's
    questions, ``sqrt(sum_s w_s^2 p_s (1 - p_s) / n_s)`` with the signal's weights w_s (1/S each,
    or n_s / N). Two scores further apart than about twice this differ by more than the noise."""
    names = list(scores)
    if selection == "weighted":
        total = sum(sizes.get(n, 1) for n in names)
        weights = {n: sizes.get(n, 1) / total for n in names}
    else:
        weights = {n: 1.0 / len(names) for n in names}
    variance = 0.0
    for n in names:
        p = scores[n] / 100.0
        variance += weights[n] ** 2 * p * (1 - p) / max(1, sizes.get(n, 1))
    return 100.0 * math.sqrt(variance)


def should_stop(history: List[float], best_index: int, patience: int, min_epochs: int) -> bool:
    """Early stopping on the per-epoch selection scores: after ``patience`` epochs without a
    gain over the best, once ``min_epochs`` have run or validation fell twice in a row."""
    if patience <= 0:
        return False
    if len(history) - 1 - best_index < patience:
        return False
    fell_twice = len(history) >= 3 and history[-1] < history[-2] < history[-3]
    return len(history) >= min_epochs or fell_twice


@dataclass
class TrainConfig:
    """Training options; the defaults are the paper's (InfoNCE, temperature 0.05, 10 positives,
    400 negatives; lr 5e-6 is its RoBERTa value), as in ``RECIPES["paper"]``. ``relbert-train``
    fills the options a user does not give from ``--recipe`` (default ``fast``)."""

    model: Optional[str] = None  # None = the packaged base encoder (MiniLM without the shipped fine-tuning)
    start: Optional[str] = None  # the starting model by name (what the run's first line says)
    recipe: str = "paper"  # which RECIPES entry the unset options came from
    template: str = "d"
    aggregation: str = "average_no_mask"
    max_length: int = 64
    loss: str = "nce"
    temperature: float = 0.05
    num_positive: int = 10
    num_negative: int = 400
    margin: float = 1.0  # triplet
    batch: int = 64  # triplet: relations per step
    classification_loss: bool = False
    epochs: int = 10
    lr: float = 5e-6
    warmup: int = 10
    gradient_accumulation: int = 1
    seed: int = 0
    chunk_size: Optional[int] = None  # prompts per forward pass; None = as many as memory_budget_gb holds
    memory_budget_gb: float = MEMORY_BUDGET_GB  # activations of one pass; above it, gradient caching
    share_encodings: bool = False  # a step of several relations encodes the union of their prompts once
    freeze_layers: int = 0  # > 0: embeddings and the lowest N layers frozen, their outputs computed once per prompt
    freeze_embeddings: bool = False
    precision: str = "auto"  # training precision: auto (bf16 where native, else fp32), fp32 or bf16
    lora_rank: int = 0  # > 0: train LoRA adapters of this rank on every linear layer (peft), not all weights
    lora_alpha: Optional[float] = None  # LoRA scale numerator; default 2 x rank
    data: str = "semeval"  # "semeval" or a RelBERT-format JSONL path
    validation: List[str] = field(default_factory=lambda: list(VALIDATION_SETS))
    selection: str = "balanced"  # each validation set counts once ("mean": its earlier name), or "weighted" by questions
    lr_schedule: str = "constant"  # after the warmup: "constant", "linear" decay to 0, or "cosine" decay to 0
    patience: int = 0  # > 0: stop after this many epochs without a validation gain (see min_epochs)
    min_epochs: int = 0  # early stopping waits for this many epochs, unless validation fell twice in a row
    keep_epochs: bool = False  # also save every epoch's model in epochs/N (for checkpoint averaging)
    distill_from: Optional[str] = None  # teacher model: train to reproduce its relation vectors
    distill_pairs: Optional[str] = None  # pairs file (head<TAB>tail) the teacher labels
    distill_loss: str = "cosine"  # "cosine" (1 - cos) or "mse" (between unit vectors)
    distill_batch: int = 128  # distillation pairs per step
    contrastive_weight: float = 0.0  # with distillation: weight of the contrastive SemEval terms mixed in (0 = none)
    # > 0: the losses see the relation + offset vector at this λ (relbert.offsets), the word offsets
    # computed by the same encoder in the same step; 0: the relation vector alone (as before)
    offset_weight: float = 0.0
    offset_gradient: str = "both"  # through both halves, or "relation": the offsets as constants

    @classmethod
    def from_recipe(cls, recipe: str = "fast", **options) -> "TrainConfig":
        """A run's options as ``relbert-train`` makes them: ``recipe``'s values, the starting model's
        own pooling, then ``options`` (:func:`config_from_recipe`)."""
        return config_from_recipe(recipe, **options)

    @classmethod
    def from_options(cls, options: dict) -> "TrainConfig":
        """The config of ``relbert-train``'s parsed config options (by option name, the run's own,
        such as ``output`` or ``resume``, taken out): :meth:`from_recipe` of them. An option that
        sets no field is a one-line OptionError, never dropped."""
        from .validation import validation_names

        renamed = {OPTION_RENAMES.get(k, k): v for k, v in options.items()}
        if renamed.get("validation") is not None:
            renamed["validation"] = validation_names(renamed["validation"])
        return config_from_recipe(**renamed)

    def check(self) -> "TrainConfig":
        if self.loss not in LOSSES:
            raise OptionError(f"unknown loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        for name in ("num_positive", "num_negative", "batch", "epochs", "gradient_accumulation"):
            if getattr(self, name) < 1:
                raise OptionError(f"{name} must be positive, got {getattr(self, name)}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise OptionError(f"chunk_size must be positive, got {self.chunk_size}")
        if self.memory_budget_gb <= 0:
            raise OptionError(f"memory_budget_gb must be positive, got {self.memory_budget_gb}")
        if self.freeze_layers < 0:
            raise OptionError(f"freeze_layers must be 0 or positive, got {self.freeze_layers}")
        if self.freeze_layers and self.lora_rank:
            raise OptionError("freeze_layers and lora_rank do not combine: choose one way to train fewer weights")
        if (self.distill_from is None) != (self.distill_pairs is None):
            raise OptionError("distillation needs both the teacher (--distill-from / distill_from) and the pairs file "
                              "(--distill-pairs / distill_pairs)")
        if self.distill_loss not in DISTILL_LOSSES:
            raise OptionError(f"unknown distill_loss {self.distill_loss!r}: choose one of {', '.join(DISTILL_LOSSES)}")
        if self.distill_batch < 1 or self.contrastive_weight < 0:
            raise OptionError("distill_batch must be positive and contrastive_weight 0 or positive")
        from ..offsets import check_offset_weight

        check_offset_weight(self.offset_weight)
        if self.offset_gradient not in OFFSET_GRADIENTS:
            raise OptionError(f"unknown offset_gradient {self.offset_gradient!r}: choose one of "
                              f"{', '.join(OFFSET_GRADIENTS)}")
        if self.offset_weight and self.freeze_layers:
            raise OptionError("offset_weight > 0 and freeze_layers do not combine yet: the word offsets run the full "
                              "encoder")
        if self.precision not in TRAIN_PRECISIONS:
            raise OptionError(f"unknown precision {self.precision!r}: choose one of {', '.join(TRAIN_PRECISIONS)}")
        if self.lora_rank < 0:
            raise OptionError(f"lora_rank must be 0 (full fine-tuning) or positive, got {self.lora_rank}")
        if self.temperature <= 0 or self.lr <= 0:
            raise OptionError("temperature and lr must be positive")
        if self.selection not in SELECTIONS:
            raise OptionError(f"unknown selection {self.selection!r}: choose one of {', '.join(SELECTIONS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise OptionError(f"unknown lr_schedule {self.lr_schedule!r}: choose one of {', '.join(LR_SCHEDULES)}")
        if self.patience < 0 or self.min_epochs < 0:
            raise OptionError("patience and min_epochs must be 0 or positive")
        return self


def starting_model(model: Optional[str], data: str) -> Tuple[str, str]:
    """``(what to load, its name for the log and training_config.json)``: ``model``; else the
    shipped default for a user's own data (fine-tuning starts from a trained model) and the
    packaged base on SemEval (the paper's setting)."""
    from ..models.loading import DEFAULT_NAME, default_model_path

    if model is not None:
        return model, model
    if data != "semeval":
        return DEFAULT_NAME, f"{DEFAULT_NAME} (the shipped default)"
    return default_model_path(), "all-MiniLM-L6-v2 (the packaged base, not fine-tuned)"


def trained_pooling(model: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """A trained starting model's own template and aggregation (fine-tuning keeps how it reads
    pairs), or ``(None, None)``; a model that cannot be found is one line."""
    from ..models.loading import resolve_model

    if model is None:
        return None, None
    spec = resolve_model(model)
    return (spec.template, spec.aggregation) if spec.is_trained else (None, None)


#: relbert-train's options named otherwise than the config field they set (every other option is
#: its field's, or :func:`config_from_recipe`'s argument's, name).
OPTION_RENAMES = {"memory_budget": "memory_budget_gb", "train_offset_weight": "offset_weight"}


def config_from_recipe(recipe: str = "fast", *, data: str = "semeval", model: Optional[str] = None,
                       validation: Optional[Sequence[str]] = None, **options) -> TrainConfig:
    """The options of a run: ``recipe``'s values (docs/training.md), the starting model's own
    template and aggregation where it is trained, then ``options`` (any :class:`TrainConfig`
    field; None means "the recipe's"). ``validation``: set names (None: the benchmarks on SemEval,
    a held-out part of your own data otherwise; ``[]``: none)."""
    from ..errors import UsageError

    if data != "semeval" and not Path(data).is_file():
        raise UsageError(f"--data {data}: no such file (give 'semeval' or a RelBERT-format JSONL file)")
    start, start_name = starting_model(model, data)
    recipe_keys = ("template", "aggregation", "num_negative", "lr", "lr_schedule", "epochs", "patience",
                   "freeze_layers", "precision")
    settings = resolve_recipe(recipe, {k: options.pop(k, None) for k in recipe_keys}, *trained_pooling(start))
    names = (["own"] if data != "semeval" else list(VALIDATION_SETS)) if validation is None else list(validation)
    fields = {k: v for k, v in options.items() if v is not None}
    try:
        config = TrainConfig(model=start, start=start_name, recipe=recipe, data=data, validation=names,
                             **{**fields, **settings})
    except TypeError as err:  # an option that is no TrainConfig field
        raise OptionError(f"TrainConfig: {err}") from None
    return config.check()  # option mistakes (distillation needs both files, ...): one line, now
