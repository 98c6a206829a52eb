"""Relational similarity training data (the RelBERT dataset format), one relation a JSONL line:

``{"relation_type": "parent/child", "positives": [[h, t], ...], "negatives": [[h, t], ...]}``

A ``parent/child`` name puts the relation under a parent class (used by the hierarchy-aware
losses); a name without ``/`` has no parent.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from ..errors import InputError
from ..io import iter_json_records

Pair = Tuple[str, str]


@dataclass
class Relation:
    name: str
    positives: List[Pair]
    negatives: List[Pair] = field(default_factory=list)

    @property
    def parent(self) -> Optional[str]:
        return self.name.split("/", 1)[0] if "/" in self.name else None


def _pairs(value, source, lineno, key) -> List[Pair]:
    if not isinstance(value, list):
        raise InputError(source, lineno, f"{key} must be a list of [head, tail] pairs")
    out = []
    for i, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(w, str) and w.strip() for w in pair)):
            raise InputError(source, lineno, f"{key}[{i}] must be a pair of two non-empty words, got {json.dumps(pair)[:60]}")
        out.append((pair[0], pair[1]))
    return out


def read_relsim_file(path: Union[str, Path]) -> List[Relation]:
    """Read and validate a RelBERT-format JSONL file (``FILE:LINE: why`` on errors)."""
    source = str(path)
    relations: Dict[str, Relation] = {}
    for lineno, record in iter_json_records(path, "record"):
        name = record.get("relation_type")
        if not isinstance(name, str) or not name.strip():
            raise InputError(source, lineno, "missing or empty 'relation_type'")
        if name in relations:
            raise InputError(source, lineno, f"relation_type {name!r} appears twice")
        positives = _pairs(record.get("positives"), source, lineno, "positives")
        if len(positives) < 2:
            raise InputError(source, lineno, "a relation needs at least 2 positives")
        negatives = _pairs(record.get("negatives", []), source, lineno, "negatives")
        relations[name] = Relation(name, positives, negatives)
    if len(relations) < 2:
        raise InputError(source, 1, "training needs at least 2 relations")
    return list(relations.values())


def split_held_out(relations: List[Relation], seed: int = 0, fraction: float = 0.2, minimum: int = 2
                   ) -> Tuple[List[Relation], List[Relation]]:
    """``(train, held)``: by seed, ``fraction`` of each relation's positives (at least ``minimum``)
    held out for validation, where the relation keeps at least 2 for training; a relation too
    small for that stays whole in training. Negatives stay in training."""
    import random

    rng = random.Random(seed)
    train, held = [], []
    for relation in relations:
        pairs = list(relation.positives)
        count = max(minimum, int(round(fraction * len(pairs))))
        if len(pairs) - count < 2:
            train.append(relation)
            continue
        rng.shuffle(pairs)
        kept = set(pairs[count:])
        train.append(Relation(relation.name, [p for p in relation.positives if p in kept], list(relation.negatives)))
        held.append(Relation(relation.name, [p for p in relation.positives if p not in kept], []))
    return train, held


def held_out_questions(held: List[Relation], seed: int = 0, distractors: int = 3):
    """Analogy questions of a user's own relations from their held-out pairs: each held-out pair is
    a stem, the next held-out pair of its relation the answer, and up to ``distractors`` held-out
    pairs of other relations the wrong choices (an AnalogyDataset named ``own/valid``)."""
    import random

    from .analogy import AnalogyDataset, AnalogyQuestion

    rng = random.Random(seed)
    questions = []
    for relation in held:
        others = [p for r in held if r.name != relation.name for p in r.positives]
        pos = relation.positives
        if len(pos) < 2 or not others:
            continue
        for i, stem in enumerate(pos):
            choice = rng.sample(others, min(distractors, len(others)))
            index = rng.randrange(len(choice) + 1)
            choice.insert(index, pos[(i + 1) % len(pos)])
            questions.append(AnalogyQuestion(stem, choice, index, relation.name))
    return AnalogyDataset("own", Path("held-out pairs"), questions)
