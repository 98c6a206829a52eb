"""The trainer: fine-tunes a RelBERT model with contrastive losses (the paper's recipe), resumable
and torchrun-aware.

One optimisation step sees ``gradient_accumulation`` relations. For InfoNCE/InfoLOOB a
relation contributes its (sampled) positives against its negatives, augmented with the other
relations' positives; for the triplet loss a step is a batch of relations, each with an
(anchor, positive, negative) triple (sampling: :mod:`relbert.training.sampling`).

What a step costs, and how it is kept small:
- **One pass where memory allows.** A step's prompts are encoded in one forward pass when their
  activations fit ``memory_budget_gb`` (or ``chunk_size`` prompts when given); only a larger step
  is cut into length-sorted chunks with gradient caching (embed without graph, take d loss / d
  vector, re-embed chunk by chunk and backpropagate), so peak memory does not grow with
  ``num_negative``.
- **Shared encodings** (``share_encodings``): a step of several relations encodes the union of
  their prompts once and scores every relation's term from one embedding matrix: the same loss
  as the relations accumulated one by one, with fewer encodings.
- **Frozen lower layers** (``freeze_layers``): their output per prompt is computed once
  (:mod:`relbert.training.frozen`), for training and validation prompts alike.
- **Precision** ``auto``: bf16 autocast where the hardware computes bf16 natively, else fp32
  (:mod:`relbert.runtime.precision`).

Determinism: every random choice comes from one ``random.Random(seed)`` stream, and dropout
is re-seeded from (seed, epoch, step, chunk) before each forward pass. A resumed run and a
torchrun run therefore compute the same thing as an uninterrupted single process.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the relations of each step are dealt round-robin to
the ranks and gradients are summed with ``torch.distributed.all_reduce`` (gloo on CPU, nccl
on GPU); rank 0 validates, logs and saves.
"""
from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import distributed, losses
from ..data.relsim import Relation
from ..runtime.torch_runtime import TorchEncoder
from ..errors import InputError, ResumeError
from .config import TrainConfig, check_resume, selection_score, selection_se, should_stop, lr_factor
from ..io import write_json_atomic
from .frozen import FrozenEmbedder, FrozenLower
from .lora import add_lora, merged_lora_state
from .sampling import DISTILL, build_pools, items_per_epoch, nce_items, shared_prompts, triplet_items
from .state import link_folder, load_state, rng_from_json, rng_to_json, save_state

Pair = Tuple[str, str]


def activation_bytes_per_token(config, trained_layers: int, length: int) -> int:
    """Bytes of activations one token keeps for the backward pass: per trained transformer
    layer about ``68 h + 10 a L`` in fp32 (Korthikanti et al. 2022, doubled from 16 bits), for
    hidden size h, a heads and sequence length L."""
    hidden = int(getattr(config, "hidden_size", 768))
    heads = int(getattr(config, "num_attention_heads", 12))
    return trained_layers * (68 * hidden + 10 * heads * length)


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
        output_dir: receives ``model/`` (best epoch, ``save_pretrained`` + ``training_config.json``),
            ``state/`` (for ``resume``), ``train.log``.
        validators: name -> callable(model) -> accuracy in percent; their mean picks the best epoch.
    """

    def __init__(self, config: TrainConfig, relations: List[Relation], output_dir, validators: Dict[str, Callable] = None,
                 device: Optional[str] = None, show_progress: bool = True, report: Optional[Callable[[str], None]] = None,
                 lower_cache: Optional[dict] = None, parent_log: Optional[Tuple[Path, str]] = None,
                 teacher_file: Optional[Path] = None):
        from ..models.loading import default_model_path
        from ..model import RelBERT
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
                                               max_length=config.max_length, device=device, precision="fp32")
        self.device = self.relbert.device
        self.precision, self.precision_reason = choose_precision(config.precision, self.device.type)
        self.bf16 = self.precision == "bf16"
        if config.lora_rank:
            add_lora(self.relbert.runtime.torch_runtime, config.lora_rank, config.lora_alpha)
        self.encoder = self.relbert.runtime.torch_runtime
        self.frozen: Optional[FrozenLower] = None
        trained_layers = int(getattr(self.encoder.config, "num_hidden_layers", 12))
        if config.freeze_layers:
            self.frozen = FrozenLower(self.encoder, config.freeze_layers, self.device, autocast_bf16=self.bf16,
                                      cache=lower_cache)
            trained_layers -= config.freeze_layers
        self._bytes_per_token = lambda length: activation_bytes_per_token(self.encoder.config, trained_layers, length)
        # the full forward (the mask shortcut skips the last layer's dropout: inference only)
        module = self.frozen.upper if self.frozen is not None else self.encoder
        self.pooled = TorchEncoder(module, None, mode="full", device=self.relbert.device)
        if config.freeze_embeddings:
            self.encoder.get_input_embeddings().weight.requires_grad_(False)
        self.classifier = None
        # trained modules beside the encoder (saved in the run state, not in the model)
        self.heads = torch.nn.ModuleDict()
        if config.classification_loss:
            torch.manual_seed(config.seed)  # the head's initialisation is part of the seeded run
            self.classifier = self.heads["classifier"] = losses.PairClassifier(self.relbert.hidden_size).to(self.device)
        self.distill = None
        if config.distill_from is not None:
            self.distill = self._distillation(report)
            if self.distill.projection is not None:
                self.heads["projection"] = self.distill.projection
        params = [p for p in self.encoder.parameters() if p.requires_grad] + list(self.heads.parameters())
        self.params = params
        self.optimizer = torch.optim.AdamW([{"params": params, "weight_decay": 0.0}], lr=config.lr)
        self.relations = relations
        self.validators = validators or {}
        self.rng = random.Random(config.seed)
        self.pools = build_pools(relations, config.loss)
        self.positives, self.negatives, self.parents = self.pools.positives, self.pools.negatives, self.pools.parents
        total = config.epochs * self.steps_per_epoch()
        warmup = max(1, config.warmup)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, warmup, total, config.lr_schedule))
        self._ids: Dict[Pair, List[int]] = {}
        self._tokenize_all()
        smallest = min(len(v) for v in self.negatives.values()) if self.negatives else 0
        if report is not None and self.rank == 0 and config.loss != "triplet" and smallest < config.num_negative:
            report(f"note: --num-negative {config.num_negative}, but the smallest relation has {smallest} negatives "
                   "(its own and the other relations' positives): such relations use all they have")
        self.report = report if self.rank == 0 else None
        self.encoded = 0  # prompt forward passes through the trained layers (gradient caching runs two)
        self.log = self._logger(parent_log)
        self.log.info("precision %s: %s", self.precision, self.precision_reason)
        if report is not None and self.rank == 0:
            report(f"precision {self.precision}: {self.precision_reason}")
        if self.frozen is not None:
            self.frozen.ensure([self._ids[p] for p in self.pools.every_pair()], self.relbert.tokenizer.pad)
            if self.distill is not None:
                self.frozen.ensure(self._ids_of(self.distill.pairs), self.relbert.tokenizer.pad)

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
        return Distillation(pairs, vectors, self.relbert.hidden_size, self.device, self.config.distill_loss)

    # -- setup -------------------------------------------------------------------------------
    def _logger(self, parent_log: Optional[Tuple[Path, str]] = None) -> logging.Logger:
        """``train.log`` in the output folder (and, for one seed of several, the parent run's log
        with the seed named on each line)."""
        log = logging.getLogger(f"relbert.train.{id(self)}")
        log.setLevel(logging.INFO)
        log.propagate = False
        if self.rank == 0:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            files = [(self.output_dir / "train.log", "")] + ([parent_log] if parent_log else [])
            for path, prefix in files:
                handler = logging.FileHandler(path)
                handler.setFormatter(logging.Formatter("%(asctime)s " + (prefix + " " if prefix else "") + "%(message)s"))
                log.addHandler(handler)
        return log

    def _tokenize_all(self) -> None:
        every = self.pools.every_pair()
        self._ids = dict(zip(every, self.relbert.tokenizer.token_ids(every)))  # validated for length once

    # -- embedding with gradients ------------------------------------------------------------
    def _ids_of(self, pairs: Sequence[Pair]) -> List[List[int]]:
        """Token ids per pair, tokenized once and cached."""
        missing = [p for p in pairs if p not in self._ids]
        if missing:
            self._ids.update(zip(missing, self.relbert.tokenizer.token_ids(missing)))
        return [self._ids[p] for p in pairs]

    def autocast(self):
        """bf16 autocast for the encoder where the chosen precision is bf16 (fp32 weights, fp32 losses)."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _embed(self, pairs: Sequence[Pair], seed: int) -> torch.Tensor:
        """Raw pooled vectors (with graph if grad is enabled); dropout seeded by ``seed``."""
        torch.manual_seed(seed)
        ids = self._ids_of(pairs)
        batch = self.relbert.tokenizer.pad(ids)
        if self.frozen is not None:
            self.frozen.set_batch(ids, batch["input_ids"].shape[1])
        self.encoded += len(pairs)
        with self.autocast():
            vectors = self.pooled(*self.pooled.tensors(batch)).float()
        if self.frozen is not None:
            self.frozen.given.hidden = None
        return vectors

    def chunk_size(self, pairs: Sequence[Pair]) -> int:
        """Prompts per forward pass: ``chunk_size`` when given, else as many of these prompts as
        the memory budget holds (every prompt, where they fit: then no gradient caching)."""
        if self.config.chunk_size is not None:
            return self.config.chunk_size
        longest = max(len(self._ids[p]) for p in pairs)
        per_prompt = self._bytes_per_token(longest) * longest
        return max(1, int(self.config.memory_budget_gb * 2 ** 30 // per_prompt))

    def _backward(self, pairs: List[Pair], loss_fn: Callable[[torch.Tensor], torch.Tensor], seed: int) -> float:
        """loss_fn(vectors of pairs).backward(), chunked with gradient caching when large."""
        self._ids_of(pairs)
        size = self.chunk_size(pairs)
        if len(pairs) <= size:
            loss = loss_fn(self._embed(pairs, seed))
            loss.backward()
            return float(loss.detach())
        order = sorted(range(len(pairs)), key=lambda i: len(self._ids[pairs[i]]))  # length-sorted chunks
        chunks = [order[s : s + size] for s in range(0, len(order), size)]
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

    def _backward_shared(self, items: Sequence[Tuple[List[Pair], int]], seed: int) -> float:
        """Several items' losses from one encoding of the union of their prompts (summed, as
        accumulated steps would sum them); returns the summed loss."""
        union, rows = shared_prompts(items)
        fns = [(torch.tensor(r, device=self.device), self._item_loss(pairs, n)) for r, (pairs, n) in zip(rows, items)]

        def loss_fn(vectors):
            return sum(fn(vectors[index]) for index, fn in fns)

        return self._backward(union, loss_fn, seed)

    # -- one epoch ---------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        """Optimiser steps in one epoch (what the learning-rate decay counts)."""
        contrastive = items_per_epoch(self.pools, self.config.loss, self.config.batch)
        if self.distill is not None:
            batches = -(-len(self.distill.pairs) // self.config.distill_batch)
            items = batches + (contrastive if self.config.contrastive_weight > 0 else 0)
        else:
            items = contrastive
        return -(-items // self.config.gradient_accumulation)

    def _epoch_items(self) -> List[Tuple[List[Pair], int]]:
        """The epoch's items: contrastive relations (or triplet batches), or with distillation its
        batches of pairs (plus the contrastive relations when mixed in), in a seeded order."""
        if self.distill is None:
            return self._triplet_items() if self.config.loss == "triplet" else self._nce_items()
        items = [(batch, DISTILL) for batch in self.distill.batches(self.rng, self.config.distill_batch)]
        if self.config.contrastive_weight > 0:
            items += self._triplet_items() if self.config.loss == "triplet" else self._nce_items()
            self.rng.shuffle(items)
        return items

    def _item_loss(self, pairs: List[Pair], n: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """The loss of one item: distillation towards the teacher, or a contrastive term (weighted
        by ``contrastive_weight`` when mixed into distillation)."""
        if n == DISTILL:
            return self.distill.loss_fn(pairs)
        fn = self._loss_fn(n)
        if self.distill is None:
            return fn
        weight = self.config.contrastive_weight
        return lambda v: weight * fn(v)

    def _nce_items(self) -> List[Tuple[List[Pair], int]]:
        """(pairs, number of positives) per relation for one epoch, in the epoch's order."""
        return nce_items(self.pools, self.rng, self.config.num_positive, self.config.num_negative)

    def _triplet_items(self) -> List[Tuple[List[Pair], int]]:
        """Batches of relations: (anchor, positive, negative[, parent positive, parent negative]) rows."""
        return triplet_items(self.pools, self.rng, self.config.batch)

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
        self.heads.train()
        if partial is not None:  # draw the same items as the interrupted pass
            self.rng.setstate(rng_from_json(partial["rng"]))
        drawn_from = rng_to_json(self.rng.getstate())
        items = self._epoch_items()
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
                total += self._backward_shared([item for _, item in mine], self._seed(epoch, mine[0][0]))
                count += len(mine)
            else:
                for index, (pairs, n) in mine:
                    total += self._backward(pairs, self._item_loss(pairs, n), self._seed(epoch, index))
                    count += 1
            self._step()
            steps += 1
            done = start + len(step)
            if checkpoint is not None and checkpoint_every and steps % checkpoint_every == 0 and done < len(items):
                done_total, done_count = _summed(total, count)
                checkpoint({"epoch": epoch, "items_done": done, "total": done_total, "count": done_count,
                            "rng": drawn_from})
            if progress is not None:
                progress.update(len(step))
                progress.set_postfix(loss=f"{total / max(1, count):.3f}")
        if progress is not None:
            progress.close()
        total, count = _summed(total, count)
        return total / max(1, count)

    def _seed(self, epoch: int, index: int) -> int:
        """Dropout seed of item ``index`` of ``epoch`` (the first item of a shared step)."""
        return (self.config.seed * 1_000_003 + epoch) * 100_003 + index

    def embedder(self):
        """What validation embeds with: the model itself, or with frozen lower layers the cached
        path (:class:`relbert.training.frozen.FrozenEmbedder`: the same function)."""
        if self.frozen is None:
            return self.relbert
        return FrozenEmbedder(self.relbert, self.frozen, self.pooled)

    def validate(self) -> Dict[str, float]:
        """Every validator's accuracy, in eval mode, at the training precision."""
        self.encoder.eval()
        try:
            embedder = self.embedder()
            with self.autocast():
                scores = {name: float(fn(embedder)) for name, fn in self.validators.items()}
        finally:
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
        extended = False
        if resume:
            if not (state_dir / "state.json").is_file():
                raise ResumeError(f"--resume: no saved state in {state_dir}")
            # options added since the interrupted run was started take their defaults
            saved = {**asdict(TrainConfig()), **json.loads((self.output_dir / "training_config.json").read_text())}
            extended = check_resume(saved, asdict(self.config))
            progress = load_state(state_dir, self.encoder, self._heads_or_none(), self.optimizer, self.scheduler, self.rng)
            if extended:
                self.log.info("extending the run from %d to %d epochs", saved["epochs"], self.config.epochs)
            if progress.get("partial"):
                self.log.info("resumed in epoch %d after %d relations", progress["epoch"] + 1,
                              progress["partial"]["items_done"])
            else:
                self.log.info("resumed after epoch %d", progress["epoch"])
        if self.rank == 0 and (not resume or extended):  # a new run, or the extended one's new length
            self.output_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.output_dir / "training_config.json", asdict(self.config), indent=2)
        self.log.info("config %s", json.dumps(asdict(self.config)))
        if not resume and self.validators and self.relbert.is_trained:
            self._score_start(progress)  # a trained starting model is the one to beat (the base never is)

        def save_partial(partial: dict) -> None:
            if self.rank == 0:
                save_state(state_dir, self.encoder, self._heads_or_none(), self.optimizer, self.scheduler, self.rng,
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
                    record["se"] = selection_se(scores, sizes, self.config.selection)
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
                save_state(state_dir, self.encoder, self._heads_or_none(), self.optimizer, self.scheduler, self.rng, progress)
                self.log.info("epoch %s", json.dumps(record))
                if self.report is not None:  # the signal and its noise, every epoch
                    said = (f"validation {score:.2f} +/- {record['se']:.2f} ({self.config.selection})" if scores
                            else f"training loss {loss:.2f}")
                    self.report(f"epoch {epoch + 1}: {said}, {record['seconds']:.0f} s")
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

    def _score_start(self, progress: dict) -> None:
        """A trained starting model, scored on the validation sets before epoch 1 and saved as
        ``model/``: an epoch replaces it only by beating it, so fine-tuning never ends with a model
        worse on validation than the one it started from (``best_epoch`` 0 says it kept it)."""
        if self.rank == 0:
            scores = self.validate()
            sizes = {name: getattr(fn, "questions", 1) for name, fn in self.validators.items()}
            record = {"epoch": 0, "validation": scores, "score": selection_score(scores, sizes, self.config.selection),
                      "se": selection_se(scores, sizes, self.config.selection)}
            self.save_model(self.output_dir / "model", record)
            progress["start"] = record
            progress["best_score"], progress["best_epoch"] = record["score"], 0
            self.log.info("starting model %s", json.dumps(record))
        distributed.barrier()

    def _heads_or_none(self):
        return self.heads if len(self.heads) else None

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
        write_json_atomic(folder / "training_config.json", config, indent=2)
