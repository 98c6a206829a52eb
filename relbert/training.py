"""Fine-tuning RelBERT with contrastive losses (the paper's recipe), resumable and torchrun-aware.

One optimisation step sees ``gradient_accumulation`` relations. For InfoNCE/InfoLOOB a
relation contributes its (sampled) positives against its negatives, augmented with the other
relations' positives; for the triplet loss a step is a batch of relations, each with an
(anchor, positive, negative) triple. Prompts are length-sorted and padded per chunk; above
``chunk_size`` prompts a relation is embedded with gradient caching (embed without graph,
take d loss / d vector, re-embed chunk by chunk and backpropagate), so peak memory does not
grow with ``num_negative``.

Determinism: every random choice comes from one ``random.Random(seed)`` stream, and dropout
is re-seeded from (seed, epoch, step, chunk) before each forward pass. A resumed run and a
torchrun run therefore compute the same thing as an uninterrupted single process.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the relations of each step are dealt round-robin to
the ranks and gradients are summed with ``torch.distributed.all_reduce`` (gloo on CPU, nccl
on GPU); rank 0 validates, logs and saves.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from itertools import combinations, product
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import distributed, losses
from .encoder import TorchEncoder
from .data.relsim import Relation

Pair = Tuple[str, str]
LOSSES = ("nce", "iloob", "triplet")
SELECTIONS = ("mean", "weighted")
LR_SCHEDULES = ("constant", "linear", "cosine")


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


def selection_score(scores: Dict[str, float], sizes: Dict[str, int], selection: str) -> float:
    """The number that chooses the epoch: the plain mean of the validation accuracies, or their
    mean weighted by each set's number of questions (the steadier signal)."""
    if selection == "weighted":
        total = sum(sizes.get(name, 1) for name in scores)
        return float(sum(scores[name] * sizes.get(name, 1) for name in scores) / total)
    return float(np.mean(list(scores.values())))


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
    400 negatives; lr 5e-6 is its RoBERTa value)."""

    model: Optional[str] = None  # None = the embedded base encoder (packaged MiniLM)
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
    chunk_size: int = 128
    freeze_embeddings: bool = False
    bf16: bool = False  # bfloat16 autocast for the encoder (fp32 master weights, losses in fp32)
    lora_rank: int = 0  # > 0: train LoRA adapters of this rank on every linear layer (peft), not all weights
    lora_alpha: Optional[float] = None  # LoRA scale numerator; default 2 x rank
    data: str = "semeval"  # "semeval" or a RelBERT-format JSONL path
    validation: List[str] = field(default_factory=lambda: ["semeval", "u2", "u4", "google", "bats"])
    selection: str = "mean"  # "mean" of the validation sets, or "weighted" by their number of questions
    lr_schedule: str = "constant"  # after the warmup: "constant", "linear" decay to 0, or "cosine" decay to 0
    patience: int = 0  # > 0: stop after this many epochs without a validation gain (see min_epochs)
    min_epochs: int = 0  # early stopping waits for this many epochs, unless validation fell twice in a row
    keep_epochs: bool = False  # also save every epoch's model in epochs/N (for checkpoint averaging)

    def check(self) -> "TrainConfig":
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        for name in ("num_positive", "num_negative", "batch", "epochs", "gradient_accumulation", "chunk_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be 0 (full fine-tuning) or positive, got {self.lora_rank}")
        if self.temperature <= 0 or self.lr <= 0:
            raise ValueError("temperature and lr must be positive")
        if self.selection not in SELECTIONS:
            raise ValueError(f"unknown selection {self.selection!r}: choose one of {', '.join(SELECTIONS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}: choose one of {', '.join(LR_SCHEDULES)}")
        if self.patience < 0 or self.min_epochs < 0:
            raise ValueError("patience and min_epochs must be 0 or positive")
        return self


# --- state files (safetensors + JSON: nothing pickled) -------------------------------------
def save_state(folder: Path, model, classifier, optimizer, scheduler, rng: random.Random, progress: dict) -> None:
    from safetensors.torch import save_file, save_model

    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_model(model, str(tmp / "model.safetensors"))
    if classifier is not None:
        save_model(classifier, str(tmp / "classifier.safetensors"))
    opt = optimizer.state_dict()
    tensors = {f"{idx}.{name}": value.contiguous() for idx, state in opt["state"].items() for name, value in state.items()}
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    meta = {"param_groups": opt["param_groups"], "scheduler": scheduler.state_dict()["last_epoch"],
            "rng": _rng_to_json(rng.getstate()), "progress": progress}
    (tmp / "state.json").write_text(json.dumps(meta, indent=1))
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    os.replace(tmp, folder)  # the state folder is replaced whole: never half-written


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
    rng.setstate(_rng_from_json(meta["rng"]))
    return meta["progress"]


def link_folder(source: Path, target: Path) -> None:
    """Make ``target`` hold ``source``'s files as hard links (copies where the file system has
    none), replacing it whole."""
    import shutil

    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
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
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


def _summed(total: float, count: int) -> Tuple[float, int]:
    """The loss sum and count over every rank (as they are under a single process)."""
    dist = distributed.active()
    if dist is None:
        return total, count
    stats = torch.tensor([total, float(count)], dtype=torch.float64)
    dist.all_reduce(stats)
    return float(stats[0]), int(stats[1])


def _rng_to_json(state):
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_from_json(state):
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


# --- LoRA (peft) ------------------------------------------------------------------------------
def add_lora(encoder: torch.nn.Module, rank: int, alpha: Optional[float] = None) -> None:
    """Inject LoRA adapters of ``rank`` into every linear layer of ``encoder`` in place (peft);
    only the adapters (and nothing else) then require gradients."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as err:
        raise ImportError("LoRA training needs peft: pip install peft") from err
    linear = sorted({name.rsplit(".", 1)[-1] for name, m in encoder.named_modules()
                     if isinstance(m, torch.nn.Linear) and "pooler" not in name})
    config = LoraConfig(r=rank, lora_alpha=alpha or 2 * rank, lora_dropout=0.0, target_modules=linear)
    inject_adapter_in_model(config, encoder)
    for name, param in encoder.named_parameters():
        param.requires_grad_("lora_" in name)


def merged_lora_state(encoder: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The encoder's weights with its LoRA adapters folded in (``W + B A``), under the plain
    encoder's names (no ``lora_`` tensors): a standalone checkpoint. The module is not modified
    (merging in place and back would round the base weights a little at every save)."""
    from peft.tuners.lora import LoraLayer

    state = {}
    with torch.no_grad():
        for name, value in encoder.state_dict().items():
            if "lora_" not in name:
                state[name.replace(".base_layer.", ".")] = value
        for prefix, layer in encoder.named_modules():
            if isinstance(layer, LoraLayer):
                key = f"{prefix}.weight"
                for adapter in layer.active_adapters:
                    state[key] = state[key] + layer.get_delta_weight(adapter).to(state[key].dtype)
    return state


# --- the trainer ----------------------------------------------------------------------------
class Trainer:
    """Fine-tunes a :class:`relbert.RelBERT` on relational similarity data.

    Args:
        config: a :class:`TrainConfig`.
        relations: training relations (see :mod:`relbert.data.semeval`, :mod:`relbert.data.relsim`).
        output_dir: receives ``model/`` (best epoch, ``save_pretrained`` + ``training_config.json``),
            ``state/`` (for ``resume``), ``train.log``.
        validators: name -> callable(model) -> accuracy in percent; their mean picks the best epoch.
    """

    def __init__(self, config: TrainConfig, relations: List[Relation], output_dir, validators: Dict[str, Callable] = None,
                 device: Optional[str] = None, show_progress: bool = True):
        from .model import RelBERT

        self.config = config.check()
        self.rank, self.world = distributed.init()
        if device is None and distributed.local_device() is not None:
            device = str(distributed.local_device())
        self.output_dir = Path(output_dir)
        self.show_progress = show_progress and self.rank == 0
        self.relbert = RelBERT.from_pretrained(config.model, template=config.template, aggregation=config.aggregation,
                                               max_length=config.max_length, device=device)
        self.device = self.relbert.device
        if config.lora_rank:
            add_lora(self.relbert.encoder, config.lora_rank, config.lora_alpha)
        self.encoder = self.relbert.encoder
        # the full forward (the mask shortcut skips the last layer's dropout: inference only)
        self.pooled = TorchEncoder(self.encoder, None, mode="full", device=self.relbert.device)
        if config.freeze_embeddings:
            self.encoder.get_input_embeddings().weight.requires_grad_(False)
        self.classifier = None
        if config.classification_loss:
            torch.manual_seed(config.seed)  # the head's initialisation is part of the seeded run
            self.classifier = losses.PairClassifier(self.relbert.hidden_size).to(self.device)
        params = [p for p in self.encoder.parameters() if p.requires_grad]
        if self.classifier is not None:
            params += list(self.classifier.parameters())
        self.params = params
        self.optimizer = torch.optim.AdamW([{"params": params, "weight_decay": 0.0}], lr=config.lr)
        self.relations = relations
        self.validators = validators or {}
        self.rng = random.Random(config.seed)
        self._ids: Dict[Pair, List[int]] = {}
        self._prepare_relations()
        total = config.epochs * self.steps_per_epoch()
        warmup = max(1, config.warmup)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, warmup, total, config.lr_schedule))
        self._tokenize_all()
        self.log = self._logger()

    # -- setup -------------------------------------------------------------------------------
    def _logger(self) -> logging.Logger:
        log = logging.getLogger(f"relbert.train.{id(self)}")
        log.setLevel(logging.INFO)
        log.propagate = False
        if self.rank == 0:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(self.output_dir / "train.log")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            log.addHandler(handler)
        return log

    def _tokenize_all(self) -> None:
        every = sorted({p for ps in list(self.positives.values()) + list(self.negatives.values()) for p in ps})
        self._ids = dict(zip(every, self.relbert.tokenizer.token_ids(every)))  # validated for length once

    def _prepare_relations(self) -> None:
        """Positive and negative pools per relation (and per parent class, as the official code)."""
        rels = sorted(self.relations, key=lambda r: r.name)
        self.positives = {r.name: list(r.positives) for r in rels}
        own_negatives = {r.name: list(r.negatives) for r in rels}
        self.parents: Dict[str, List[str]] = {}
        for r in rels:
            if r.parent is not None:
                self.parents.setdefault(r.parent, []).append(r.name)
        if any(r.parent is None for r in rels):
            self.parents = {}
        if self.config.loss == "triplet":
            self.negatives = own_negatives
            if any(not v for v in own_negatives.values()):
                raise ValueError("the triplet loss needs negatives for every relation")
            return
        # InfoNCE: negatives = own negatives + every other relation's positives.
        self.negatives = {k: own_negatives[k] + [p for o, ps in self.positives.items() if o != k for p in ps]
                          for k in self.positives}
        for parent, children in sorted(self.parents.items()):
            self.positives[parent] = sorted(p for c in children for p in self.positives[c])
            others = [c for q, cs in self.parents.items() if q != parent for c in cs]
            self.negatives[parent] = sorted(p for c in others for p in self.positives[c])

    # -- embedding with gradients ------------------------------------------------------------
    def _ids_of(self, pairs: Sequence[Pair]) -> List[List[int]]:
        """Token ids per pair, tokenized once and cached."""
        missing = [p for p in pairs if p not in self._ids]
        if missing:
            self._ids.update(zip(missing, self.relbert.tokenizer.token_ids(missing)))
        return [self._ids[p] for p in pairs]

    def _embed(self, pairs: Sequence[Pair], seed: int) -> torch.Tensor:
        """Raw pooled vectors (with graph if grad is enabled); dropout seeded by ``seed``."""
        torch.manual_seed(seed)
        batch = self.relbert.tokenizer.pad(self._ids_of(pairs))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.bf16):
            return self.pooled(*self.pooled.tensors(batch)).float()

    def _backward(self, pairs: List[Pair], loss_fn: Callable[[torch.Tensor], torch.Tensor], seed: int) -> float:
        """loss_fn(vectors of pairs).backward(), chunked with gradient caching when large."""
        if len(pairs) <= self.config.chunk_size:
            loss = loss_fn(self._embed(pairs, seed))
            loss.backward()
            return float(loss.detach())
        order = sorted(range(len(pairs)), key=lambda i: len(self._ids[pairs[i]]))  # length-sorted chunks
        chunks = [order[s : s + self.config.chunk_size] for s in range(0, len(order), self.config.chunk_size)]
        with torch.no_grad():
            parts = [self._embed([pairs[i] for i in chunk], seed * 1000 + k) for k, chunk in enumerate(chunks)]
        cached = torch.empty(len(pairs), parts[0].shape[1], device=self.device)
        for chunk, part in zip(chunks, parts):
            cached[torch.tensor(chunk, device=self.device)] = part
        cached.requires_grad_(True)
        loss = loss_fn(cached)
        loss.backward()
        for k, chunk in enumerate(chunks):
            vectors = self._embed([pairs[i] for i in chunk], seed * 1000 + k)
            vectors.backward(cached.grad[torch.tensor(chunk, device=self.device)])
        return float(loss.detach())

    # -- one epoch ---------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        """Optimiser steps in one epoch (what the learning-rate decay counts)."""
        names = sorted(self.positives)
        if self.config.loss == "triplet":
            n_pos = min(len(self.positives[k]) for k in names)
            n_neg = min(len(self.negatives[k]) for k in names)
            items = n_pos * (n_pos - 1) // 2 * n_neg * math.ceil(len(names) / self.config.batch)
        else:
            items = len(names)
        return math.ceil(items / self.config.gradient_accumulation)

    def _nce_items(self) -> List[Tuple[List[Pair], int]]:
        """(pairs, number of positives) per relation for one epoch, in the epoch's order."""
        names = sorted(self.positives)
        self.rng.shuffle(names)
        items = []
        for name in names:
            pos = self.positives[name]
            if len(pos) > self.config.num_positive:
                pos = self.rng.sample(pos, self.config.num_positive)
            neg = self.negatives[name]
            if len(neg) > self.config.num_negative:
                neg = self.rng.sample(neg, self.config.num_negative)
            items.append((list(pos) + list(neg), len(pos)))
        return items

    def _triplet_items(self) -> List[Tuple[List[Pair], int]]:
        """Batches of relations: (anchor, positive, negative[, parent positive, parent negative]) rows."""
        names = sorted(self.positives)
        n_pos = min(len(self.positives[k]) for k in names)
        n_neg = min(len(self.negatives[k]) for k in names)
        trials = list(product(combinations(range(n_pos), 2), range(n_neg)))
        self.rng.shuffle(trials)
        parent_of = {c: p for p, cs in self.parents.items() for c in cs}
        items = []
        for (a, b), n in trials:
            shuffled = names[:]
            self.rng.shuffle(shuffled)
            for start in range(0, len(shuffled), self.config.batch):
                rows = shuffled[start : start + self.config.batch]
                cols = [[self.positives[r][a] for r in rows], [self.positives[r][b] for r in rows],
                        [self.negatives[r][n] for r in rows]]
                if self.parents:
                    cols.append([self.rng.choice(self.positives[self.rng.choice(self.parents[parent_of[r]])]) for r in rows])
                    cols.append([self.rng.choice(self.positives[self.rng.choice(self.parents[self.rng.choice(
                        [q for q in sorted(self.parents) if q != parent_of[r]])])]) for r in rows])
                items.append(([p for col in cols for p in col], len(rows)))
        return items

    def _loss_fn(self, n: int) -> Callable[[torch.Tensor], torch.Tensor]:
        c = self.config
        if c.loss == "triplet":
            def fn(v):
                parts = v.split(n)
                parent = (parts[3], parts[4]) if len(parts) == 5 else (None, None)
                return losses.triplet(parts[0], parts[1], parts[2], margin=c.margin, positive_parent=parent[0],
                                      negative_parent=parent[1], classifier=self.classifier)
            return fn
        return lambda v: losses.info_nce(v[:n], v[n:], temperature=c.temperature, info_loob=c.loss == "iloob",
                                         classifier=self.classifier)

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
        if self.classifier is not None:
            self.classifier.train()
        if partial is not None:  # draw the same items as the interrupted pass
            self.rng.setstate(_rng_from_json(partial["rng"]))
        drawn_from = _rng_to_json(self.rng.getstate())
        items = self._triplet_items() if self.config.loss == "triplet" else self._nce_items()
        group = self.config.gradient_accumulation
        begin, total, count = (partial["items_done"], partial["total"], partial["count"]) if partial else (0, 0.0, 0)
        if self.rank != 0:  # rank 0 carries the loss so far (summed over the ranks when it was saved)
            total, count = 0.0, 0
        progress = None
        if self.show_progress:
            from .progress import progress_bar

            progress = progress_bar(total=len(items), initial=begin, desc=f"epoch {epoch + 1}/{self.config.epochs}",
                                    unit="rel", leave=False)
        self.optimizer.zero_grad(set_to_none=True)
        steps = 0
        for index, (pairs, n) in enumerate(items[begin:], start=begin):
            if (index % group) % self.world == self.rank:  # this rank's share of the step
                seed = (self.config.seed * 1_000_003 + epoch) * 100_003 + index
                total += self._backward(pairs, self._loss_fn(n), seed)
                count += 1
            if (index + 1) % group == 0 or index + 1 == len(items):
                self._step()
                steps += 1
                if checkpoint is not None and checkpoint_every and steps % checkpoint_every == 0 and index + 1 < len(items):
                    done_total, done_count = _summed(total, count)
                    checkpoint({"epoch": epoch, "items_done": index + 1, "total": done_total, "count": done_count,
                                "rng": drawn_from})
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{total / max(1, count):.3f}")
        if progress is not None:
            progress.close()
        total, count = _summed(total, count)
        return total / max(1, count)

    def validate(self) -> Dict[str, float]:
        self.encoder.eval()
        scores = {name: float(fn(self.relbert)) for name, fn in self.validators.items()}
        self.encoder.train()
        return scores

    # -- the whole run -----------------------------------------------------------------------
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
        state_dir = self.output_dir / "state"
        progress = {"epoch": 0, "best_epoch": None, "best_score": None, "history": []}
        if resume:
            if not (state_dir / "state.json").is_file():
                raise FileNotFoundError(f"--resume: no saved state in {state_dir}")
            # options added since the interrupted run was started take their defaults
            saved = {**asdict(TrainConfig()), **json.loads((self.output_dir / "training_config.json").read_text())}
            if saved != asdict(self.config):
                changed = sorted(k for k in saved if saved[k] != asdict(self.config).get(k))
                raise ValueError(f"--resume: the options differ from the interrupted run ({', '.join(changed)})")
            progress = load_state(state_dir, self.encoder, self.classifier, self.optimizer, self.scheduler, self.rng)
            if progress.get("partial"):
                self.log.info("resumed in epoch %d after %d relations", progress["epoch"] + 1,
                              progress["partial"]["items_done"])
            else:
                self.log.info("resumed after epoch %d", progress["epoch"])
        elif self.rank == 0:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "training_config.json").write_text(json.dumps(asdict(self.config), indent=2))
        self.log.info("config %s", json.dumps(asdict(self.config)))

        def save_partial(partial: dict) -> None:
            if self.rank == 0:
                save_state(state_dir, self.encoder, self.classifier, self.optimizer, self.scheduler, self.rng,
                           {**progress, "partial": partial})
                self.log.info("checkpoint in epoch %d after %d relations", partial["epoch"] + 1, partial["items_done"])
            distributed.barrier()
            if on_checkpoint is not None:
                on_checkpoint(partial)

        for epoch in range(progress["epoch"], self.config.epochs):
            start = time.time()
            partial = progress.pop("partial", None)
            loss = self.train_epoch(epoch, partial, save_partial, checkpoint_every)
            record = {"epoch": epoch + 1, "loss": loss, "seconds": round(time.time() - start, 1)}
            if self.rank == 0:
                scores = self.validate()
                record["validation"] = scores
                sizes = {name: getattr(fn, "questions", 1) for name, fn in self.validators.items()}
                score = selection_score(scores, sizes, self.config.selection) if scores else -loss
                record["score"] = score
                if scores:
                    record["mean"] = selection_score(scores, sizes, "mean")
                    record["weighted"] = selection_score(scores, sizes, "weighted")
                kept = None
                if self.config.keep_epochs:
                    kept = self.output_dir / "epochs" / str(epoch + 1)
                    self.save_model(kept, record)
                if progress["best_score"] is None or score > progress["best_score"]:
                    progress["best_score"], progress["best_epoch"] = score, epoch + 1
                    if kept is not None:  # the kept epoch's files, linked: not a second copy
                        link_folder(kept, self.output_dir / "model")
                    else:
                        self.save_model(self.output_dir / "model", record)
                progress["history"].append(record)
                progress["epoch"] = epoch + 1
                save_state(state_dir, self.encoder, self.classifier, self.optimizer, self.scheduler, self.rng, progress)
                self.log.info("epoch %s", json.dumps(record))
            else:
                progress["epoch"] = epoch + 1
            distributed.barrier()
            if on_epoch_end is not None:
                on_epoch_end(epoch)
            if self._stop_early(progress):
                self.log.info("stopped early after epoch %d (best epoch %s)", epoch + 1, progress["best_epoch"])
                progress["stopped_early"] = epoch + 1
                break
        return progress

    def _stop_early(self, progress: dict) -> bool:
        """The same decision on every rank: rank 0 decides and broadcasts it."""
        stop = False
        if self.rank == 0:
            history = [r["score"] for r in progress["history"]]
            stop = should_stop(history, progress["best_epoch"] - 1, self.config.patience, self.config.min_epochs)
        dist = distributed.active()
        if dist is not None:
            flag = torch.tensor([1.0 if stop else 0.0])
            dist.broadcast(flag, 0)
            stop = bool(flag.item())
        return stop

    def save_model(self, folder: Path, record: dict) -> None:
        if self.config.lora_rank:
            self.relbert.save_pretrained(folder, state_dict=merged_lora_state(self.encoder))
        else:
            self.relbert.save_pretrained(folder)
        config = {**asdict(self.config), "selected_epoch": record["epoch"], "validation": record.get("validation")}
        (folder / "training_config.json").write_text(json.dumps(config, indent=2))
