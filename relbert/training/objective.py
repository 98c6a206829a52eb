"""What training minimises: an epoch's items and the loss of one item.

For InfoNCE/InfoLOOB an item is a relation: its (sampled) positives against its negatives,
augmented with the other relations' positives; for the triplet loss an item is a batch of
relations, each with an (anchor, positive, negative) triple (sampling:
:mod:`relbert.training.sampling`). With distillation an item is a batch of pairs whose vectors
are pulled towards the teacher's, and contrastive items may be mixed in with
``contrastive_weight``. The losses themselves are :mod:`relbert.training.losses`.
"""
from __future__ import annotations

import random
from typing import Callable, List, Optional, Tuple

import torch

from . import losses
from .sampling import DISTILL, items_per_epoch, nce_items, triplet_items

Pair = Tuple[str, str]
Item = Tuple[List[Pair], int]  # (pairs, number of positives), or (pairs, DISTILL)


class Objective:
    """The epoch's items and each item's loss, for a :class:`relbert.training.config.TrainConfig`
    over ``pools`` (:func:`relbert.training.sampling.build_pools`)."""

    def __init__(self, config, pools, classifier: Optional[torch.nn.Module] = None, distill=None):
        self.config, self.pools, self.classifier, self.distill = config, pools, classifier, distill

    def steps_per_epoch(self) -> int:
        """Optimiser steps in one epoch (what the learning-rate decay counts)."""
        contrastive = items_per_epoch(self.pools, self.config.loss, self.config.batch)
        if self.distill is not None:
            batches = -(-len(self.distill.pairs) // self.config.distill_batch)
            items = batches + (contrastive if self.config.contrastive_weight > 0 else 0)
        else:
            items = contrastive
        return -(-items // self.config.gradient_accumulation)

    def epoch_items(self, rng: random.Random) -> List[Item]:
        """The epoch's items: contrastive relations (or triplet batches), or with distillation its
        batches of pairs (plus the contrastive relations when mixed in), in a seeded order."""
        if self.distill is None:
            return self.contrastive_items(rng)
        items = [(batch, DISTILL) for batch in self.distill.batches(rng, self.config.distill_batch)]
        if self.config.contrastive_weight > 0:
            items += self.contrastive_items(rng)
            rng.shuffle(items)
        return items

    def contrastive_items(self, rng: random.Random) -> List[Item]:
        """Per relation (pairs, number of positives), or for the triplet loss batches of relations'
        (anchor, positive, negative[, parent positive, parent negative]) rows."""
        if self.config.loss == "triplet":
            return triplet_items(self.pools, rng, self.config.batch)
        return nce_items(self.pools, rng, self.config.num_positive, self.config.num_negative)

    def item_loss(self, pairs: List[Pair], n: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """The loss of one item as a function of its pairs' vectors: distillation towards the
        teacher, or a contrastive term (weighted by ``contrastive_weight`` when mixed into distillation)."""
        if n == DISTILL:
            return self.distill.loss_fn(pairs)
        fn = self.loss_fn(n)
        if self.distill is None:
            return fn
        weight = self.config.contrastive_weight
        return lambda v: weight * fn(v)

    def loss_fn(self, n: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """The contrastive loss of an item with ``n`` positives (triplet: ``n`` rows a part)."""
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
