"""What one epoch trains on: per-relation pools of positives and negatives, and the items drawn
from them. Pure Python (no model, no torch), so sampling is testable on its own.

InfoNCE / InfoLOOB: a relation's negatives are its own negatives plus every other relation's
positives; with parent classes (``parent/child`` names) each parent is one more "relation" whose
positives are its children's and whose negatives are the other parents' children's, as in the
official package. Triplet: a batch of relations, each with (anchor, positive, negative) rows.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import combinations, product
from typing import Dict, List, Sequence, Tuple

from ..errors import OptionError

Pair = Tuple[str, str]
#: One training item: the prompts it embeds and how many of them lead (positives, or rows);
#: ``DISTILL`` in that place marks a batch of distillation pairs (targets: the teacher's vectors).
Item = Tuple[List[Pair], int]
DISTILL = -1


@dataclass
class RelationPools:
    """Positives and negatives per relation name (parents included), and the parent classes."""

    positives: Dict[str, List[Pair]]
    negatives: Dict[str, List[Pair]]
    parents: Dict[str, List[str]]

    def every_pair(self) -> List[Pair]:
        """Every distinct pair an item can contain, sorted."""
        return sorted({p for ps in list(self.positives.values()) + list(self.negatives.values()) for p in ps})


def build_pools(relations: Sequence, loss: str) -> RelationPools:
    """The pools of :class:`relbert.data.relsim.Relation` objects for ``loss``."""
    rels = sorted(relations, key=lambda r: r.name)
    positives = {r.name: list(r.positives) for r in rels}
    own_negatives = {r.name: list(r.negatives) for r in rels}
    parents: Dict[str, List[str]] = {}
    for r in rels:
        if r.parent is not None:
            parents.setdefault(r.parent, []).append(r.name)
    if any(r.parent is None for r in rels):
        parents = {}
    if loss == "triplet":
        if any(not v for v in own_negatives.values()):
            raise OptionError("the triplet loss needs negatives for every relation")
        return RelationPools(positives, own_negatives, parents)
    negatives = {k: own_negatives[k] + [p for o, ps in positives.items() if o != k for p in ps] for k in positives}
    for parent, children in sorted(parents.items()):
        positives[parent] = sorted(p for c in children for p in positives[c])
        others = [c for q, cs in parents.items() if q != parent for c in cs]
        negatives[parent] = sorted(p for c in others for p in positives[c])
    return RelationPools(positives, negatives, parents)


def nce_items(pools: RelationPools, rng: random.Random, num_positive: int, num_negative: int) -> List[Item]:
    """(pairs, number of positives) per relation for one epoch, in the epoch's (shuffled) order."""
    names = sorted(pools.positives)
    rng.shuffle(names)
    items = []
    for name in names:
        pos = pools.positives[name]
        if len(pos) > num_positive:
            pos = rng.sample(pos, num_positive)
        neg = pools.negatives[name]
        if len(neg) > num_negative:
            neg = rng.sample(neg, num_negative)
        items.append((list(pos) + list(neg), len(pos)))
    return items


def triplet_items(pools: RelationPools, rng: random.Random, batch: int) -> List[Item]:
    """Batches of relations: (anchor, positive, negative[, parent positive, parent negative]) rows."""
    names = sorted(pools.positives)
    n_pos = min(len(pools.positives[k]) for k in names)
    n_neg = min(len(pools.negatives[k]) for k in names)
    trials = list(product(combinations(range(n_pos), 2), range(n_neg)))
    rng.shuffle(trials)
    parents = pools.parents
    parent_of = {c: p for p, cs in parents.items() for c in cs}
    items = []
    for (a, b), n in trials:
        shuffled = names[:]
        rng.shuffle(shuffled)
        for start in range(0, len(shuffled), batch):
            rows = shuffled[start : start + batch]
            cols = [[pools.positives[r][a] for r in rows], [pools.positives[r][b] for r in rows],
                    [pools.negatives[r][n] for r in rows]]
            if parents:
                cols.append([rng.choice(pools.positives[rng.choice(parents[parent_of[r]])]) for r in rows])
                cols.append([rng.choice(pools.positives[rng.choice(parents[rng.choice(
                    [q for q in sorted(parents) if q != parent_of[r]])])]) for r in rows])
            items.append(([p for col in cols for p in col], len(rows)))
    return items


def items_per_epoch(pools: RelationPools, loss: str, batch: int) -> int:
    """How many items one epoch draws (relations for InfoNCE, relation batches for triplet)."""
    names = sorted(pools.positives)
    if loss != "triplet":
        return len(names)
    n_pos = min(len(pools.positives[k]) for k in names)
    n_neg = min(len(pools.negatives[k]) for k in names)
    return n_pos * (n_pos - 1) // 2 * n_neg * math.ceil(len(names) / batch)


def shared_prompts(items: Sequence[Item]) -> Tuple[List[Pair], List[List[int]]]:
    """The union of several items' prompts, each once, and per item the rows of its prompts in
    that union (in the item's order): the step then encodes the union once."""
    union: Dict[Pair, int] = {}
    rows = []
    for pairs, _ in items:
        rows.append([union.setdefault(p, len(union)) for p in pairs])
    return list(union), rows
