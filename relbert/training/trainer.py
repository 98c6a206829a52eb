"""The trainer: fine-tunes a RelBERT model with contrastive losses (the paper's recipe), resumable
and torchrun-aware.

One optimisation step sees ``gradient_accumulation`` items (:mod:`relbert.training.objective`:
what is minimised); the prompts go through :mod:`relbert.training.encoding` (one pass where
memory allows, gradient caching beyond, shared encodings, frozen lower layers, bf16 autocast
where native: :mod:`relbert.runtime.precision`); the run's folder, resume, checkpoints and the
choice of the epoch are :mod:`relbert.training.run`.

Determinism: every random choice comes from one ``random.Random(seed)`` stream, and dropout
is re-seeded from (seed, epoch, step, chunk) before each forward pass. A resumed run and a
torchrun run therefore compute the same thing as an uninterrupted single process.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the relations of each step are dealt round-robin to
the ranks and gradients are summed with ``torch.distributed.all_reduce`` (gloo on CPU, nccl
on GPU); rank 0 validates, logs and saves.
"""
from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..data.relsim import Relation
from ..errors import InputError, NonFiniteError
from ..runtime import distributed
from . import losses
from .config import TrainConfig, lr_factor
from .encoding import GradientCachedEncoding
from .lora import add_lora
from .objective import Objective
from .run import TrainingRun, run_logger
from .sampling import build_pools
from .state import RunParts, rng_from_json, rng_to_json

Pair = Tuple[str, str]


def check_finite_loss(total: float, epoch: int, steps: int, config: TrainConfig) -> None:
    """NaN never reaches the weights: a non-finite loss stops the run before its step is applied,
    so the last saved state stays good (one line naming the step and the options that set the scale)."""
    if not math.isfinite(total):
        raise NonFiniteError(
            f"epoch {epoch + 1}, step {steps + 1}: the loss is {total} (not finite); nothing of this step was applied "
            f"and the last saved state is kept: lower --lr (now {config.lr:g}) or raise --temperature (now "
            f"{config.temperature:g})")


def _summed(total: float, count: int) -> Tuple[float, int]:
    """The loss sum and count over every rank (as they are under a single process)."""
    dist = distributed.active()
    if dist is None:
        return total, count
    stats = torch.tensor([total, float(count)], dtype=torch.float64)
    dist.all_reduce(stats)
    return float(stats[0]), int(stats[1])


class Trainer:
    """Fine-tunes a :class:`relbert.RelBERT` on relational similarity data.

    Args:
        config: a :class:`TrainConfig`.
        relations: training relations (see :mod:`relbert.data.semeval`, :mod:`relbert.data.relsim`).
        output_dir: the run folder (:mod:`relbert.training.run`: ``model/``, ``state/``, ``train.log``).
        validators: name -> callable(model) -> accuracy in percent; they choose the epoch (``selection``).
    """

    def __init__(self, config: TrainConfig, relations: List[Relation], output_dir, validators: Dict[str, Callable] = None,
                 device: Optional[str] = None, show_progress: bool = True, report: Optional[Callable[[str], None]] = None,
                 lower_cache: Optional[dict] = None, parent_log: Optional[Tuple[Path, str]] = None,
                 teacher_file: Optional[Path] = None):
        from ..model import RelBERT
        from ..models.loading import default_model_path
        from ..runtime.precision import choose_precision

        #: Where the teacher's vectors are kept (a multi-seed run shares one file for every seed).
        self.teacher_file = Path(teacher_file) if teacher_file is not None else Path(output_dir) / "teacher.npy"
        self.config = config.check()
        self.rank, self.world = distributed.init()
        if device is None and distributed.local_device() is not None:
            device = str(distributed.local_device())
        self.output_dir = Path(output_dir)
        self.show_progress = show_progress and self.rank == 0
        # no model = the packaged base encoder, not the shipped fine-tuned default (that one is
        # "relbert-minilm", to continue it on purpose)
        source = config.model if config.model is not None else default_model_path()
        self.relbert = RelBERT.from_pretrained(source, template=config.template, aggregation=config.aggregation,
                                               max_length=config.max_length, device=device, precision="fp32",
                                               offset_weight=config.offset_weight or None)  # validation sees λ
        self.device = self.relbert.device
        self.precision, self.precision_reason = choose_precision(config.precision, self.device.type)
        if config.lora_rank:
            add_lora(self.relbert.encoder, config.lora_rank, config.lora_alpha)
        self.encoder = self.relbert.encoder
        #: Prompts to vectors with gradients (one pass, gradient caching, frozen layers, bf16 autocast).
        self.encoding = GradientCachedEncoding(self.relbert, config, self.precision == "bf16", lower_cache)
        if config.freeze_embeddings:
            self.encoder.get_input_embeddings().weight.requires_grad_(False)
        self.heads = torch.nn.ModuleDict()  # trained modules beside the encoder (in the run state, not the model)
        classifier = None
        if config.classification_loss:
            torch.manual_seed(config.seed)  # the head's initialisation is part of the seeded run
            classifier = self.heads["classifier"] = losses.PairClassifier(self.relbert.hidden_size).to(self.device)
        self.distill = None
        if config.distill_from is not None:
            self.distill = self._distillation(report)
            if self.distill.projection is not None:
                self.heads["projection"] = self.distill.projection
        self.params = [p for p in self.encoder.parameters() if p.requires_grad] + list(self.heads.parameters())
        self.optimizer = torch.optim.AdamW([{"params": self.params, "weight_decay": 0.0}], lr=config.lr)
        self.relations = relations
        self.validators = validators or {}
        self.rng = random.Random(config.seed)
        self.pools = build_pools(relations, config.loss)
        #: What is minimised: the epoch's items and each item's loss.
        self.objective = Objective(config, self.pools, classifier, self.distill)
        total = config.epochs * self.objective.steps_per_epoch()
        warmup = max(1, config.warmup)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, warmup, total, config.lr_schedule))
        negatives = self.pools.negatives
        smallest = min(len(v) for v in negatives.values()) if negatives else 0
        if report is not None and self.rank == 0 and config.loss != "triplet" and smallest < config.num_negative:
            report(f"note: --num-negative {config.num_negative}, but the smallest relation has {smallest} negatives "
                   "(its own and the other relations' positives): such relations use all they have")
        self.report = report if self.rank == 0 else None
        self.log = run_logger(self.output_dir, self.rank, parent_log, id(self))
        self.log.info("precision %s: %s", self.precision, self.precision_reason)
        if report is not None and self.rank == 0:
            report(f"precision {self.precision}: {self.precision_reason}")
        self.encoding.prepare(self.pools.every_pair())  # tokenized (and through frozen layers) once
        if self.distill is not None:
            self.encoding.prepare(self.distill.pairs)

    def _distillation(self, report):
        """The teacher's vectors of the distillation pairs (computed once into :attr:`teacher_file`)."""
        from ..io import read_pairs
        from .distill import Distillation, teacher_vectors

        pairs = read_pairs(self.config.distill_pairs)
        if not pairs:
            raise InputError(self.config.distill_pairs, 1, "no distillation pairs (the file is empty)")
        vectors = None
        if self.rank == 0:
            self.teacher_file.parent.mkdir(parents=True, exist_ok=True)
            vectors = teacher_vectors(self.config.distill_from, Path(self.config.distill_pairs),
                                      self.teacher_file, device=str(self.device), report=report,
                                      show_progress=self.show_progress)
        distributed.barrier()
        if vectors is None:
            vectors = np.load(self.teacher_file, mmap_mode="r")
        torch.manual_seed(self.config.seed)  # the map's initialisation is part of the seeded run
        width = self.relbert.hidden_size * (2 if self.config.offset_weight else 1)  # the combined vector's width
        return Distillation(pairs, vectors, width, self.device, self.config.distill_loss)

    def _step(self) -> None:
        dist = distributed.active()
        if dist is not None:
            for p in self.params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def train_epoch(self, epoch: int, partial: Optional[dict] = None,
                    checkpoint: Optional[Callable[[dict], None]] = None, checkpoint_every: int = 0) -> float:
        """One pass over the training relations; returns the mean loss per relation/batch.

        Args:
            partial: where an interrupted pass stopped (from a mid-epoch checkpoint): the random
                state its items were drawn from, the items done and the loss so far.
            checkpoint: called with such a record every ``checkpoint_every`` optimisation steps.
        """
        self.encoder.train()
        self.heads.train()
        if partial is not None:  # draw the same items as the interrupted pass
            self.rng.setstate(rng_from_json(partial["rng"]))
        drawn_from = rng_to_json(self.rng.getstate())
        items = self.objective.epoch_items(self.rng)
        group = self.config.gradient_accumulation
        begin, total, count = (partial["items_done"], partial["total"], partial["count"]) if partial else (0, 0.0, 0)
        if self.rank != 0:  # rank 0 carries the loss so far (summed over the ranks when it was saved)
            total, count = 0.0, 0
        progress = None
        if self.show_progress:
            from ..progress import progress_bar

            progress = progress_bar(total=len(items), initial=begin, desc=f"epoch {epoch + 1}/{self.config.epochs}",
                                    unit="rel", leave=False)
        self.optimizer.zero_grad(set_to_none=True)
        steps = 0
        for start in range(begin, len(items), group):
            step = list(enumerate(items[start : start + group], start=start))
            mine = [(index, item) for index, item in step if (index % group) % self.world == self.rank]  # this rank's share
            if self.config.share_encodings and len(mine) > 1:
                total += self.encoding.backward_shared([item for _, item in mine], self.objective.item_loss,
                                                       self._seed(epoch, mine[0][0]))
                count += len(mine)
            else:
                for index, (pairs, n) in mine:
                    total += self.encoding.backward(pairs, self.objective.item_loss(pairs, n), self._seed(epoch, index))
                    count += 1
            check_finite_loss(total, epoch, steps, self.config)
            self._step()
            steps += 1
            done = start + len(step)
            if checkpoint is not None and checkpoint_every and steps % checkpoint_every == 0 and done < len(items):
                done_total, done_count = _summed(total, count)
                checkpoint({"epoch": epoch, "items_done": done, "total": done_total, "count": done_count,
                            "rng": drawn_from})
            if progress is not None:
                progress.update(len(step))
                progress.set_postfix(mean_loss=f"{total / max(1, count):.3f}")  # the epoch line's figure
        if progress is not None:
            progress.close()
        total, count = _summed(total, count)
        return total / max(1, count)

    def _seed(self, epoch: int, index: int) -> int:
        """Dropout seed of item ``index`` of ``epoch`` (the first item of a shared step)."""
        return (self.config.seed * 1_000_003 + epoch) * 100_003 + index

    def validate(self) -> Dict[str, float]:
        """Every validator's accuracy, in eval mode, at the training precision."""
        self.encoder.eval()
        try:
            embedder = self.encoding.embedder()
            with self.encoding.autocast():
                scores = {name: float(fn(embedder)) for name, fn in self.validators.items()}
        finally:
            self.encoder.train()
        return scores

    def train(self, resume: bool = False, on_epoch_end: Optional[Callable[[int], None]] = None,
              checkpoint_every: int = 0, on_checkpoint: Optional[Callable[[dict], None]] = None) -> dict:
        """Train for ``config.epochs`` epochs, keeping the best epoch by validation accuracy.

        Args:
            resume: continue from ``output_dir/state`` (written after every epoch, and within an
                epoch with ``checkpoint_every``); the resumed run computes what the uninterrupted
                one would.
            on_epoch_end: called with the epoch index after its state is saved (for tests).
            checkpoint_every: also save the state every this many optimisation steps within an
                epoch (0: only after each epoch), for epochs that take longer than a session.
            on_checkpoint: called with the mid-epoch record after it is saved (for tests).

        Returns:
            The progress record: per-epoch loss and validation scores, best epoch and score.
        """
        parts = RunParts(self.relbert, self.heads if len(self.heads) else None, self.optimizer, self.scheduler, self.rng)
        run = TrainingRun(self.output_dir, self.config, parts, self.validators, train_epoch=self.train_epoch,
                          validate=self.validate, log=self.log, rank=self.rank, report=self.report)
        return run.run(resume, on_epoch_end, checkpoint_every, on_checkpoint)
