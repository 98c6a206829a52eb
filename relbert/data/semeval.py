"""The paper's training set, built from the raw SemEval-2012 Task 2 gold ratings.

Per subcategory (79 in all): the 10 highest-rated pairs with a positive score are the
positives and the 10 lowest-rated pairs with a negative score are the negatives; the parent
category (10 of them) comes from ``subcategories-list.txt``. Relations are named
``PARENT/ID`` (``CLASS-INCLUSION/1a``) so the hierarchy is visible to the losses.

Validation part (for model selection, never trained on): the pairs ranked just after the
training ones — positives ranked 11-15 and negatives ranked 11-15 from the bottom (only
pairs with a positive, resp. negative, score). :func:`semeval_validation_questions` turns
them into analogy questions.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Dict, List, Tuple

from ..errors import InputError
from .analogy import AnalogyDataset, AnalogyQuestion
from .relsim import Relation

Pair = Tuple[str, str]
N_TRAIN = 10
N_VALID = 5
_LINE = re.compile(r'^\s*(-?\d+(?:\.\d+)?)\s+"(.*)"\s*$')


def _subcategories(root: Path) -> Dict[str, str]:
    path = root / "SemEval-2012-Gold-Ratings" / "subcategories-list.txt"
    names = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            raise InputError(str(path), lineno, "expected 'number, letter, PARENT, name'")
        names[parts[0] + parts[1]] = parts[2]
    return names


def read_gold_ratings(path: Path) -> List[Tuple[float, Pair]]:
    """``(score, (head, tail))`` of one GoldRatings file, best first."""
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match or match.group(2).count(":") != 1:
            raise InputError(str(path), lineno, 'expected  SCORE "head:tail"')
        head, tail = match.group(2).split(":")
        rows.append((float(match.group(1)), (head.strip(), tail.strip())))
    rows.sort(key=lambda r: -r[0])  # stable: file order breaks ties
    return rows


def load_semeval(root: Path) -> Tuple[List[Relation], List[Relation]]:
    """``(train, valid)`` relations built from ``root`` (the ``semeval2012_task2`` folder)."""
    root = Path(root)
    if not (root / "SemEval-2012-Gold-Ratings").is_dir():
        raise FileNotFoundError(f"the data folder {root.parent} has no SemEval-2012 Task 2 set ({root.name}): run "
                                "relbert-download data, or pass --data-dir (train on your own relations with "
                                "--data FILE.jsonl, or without validation with --validation '')")
    parents = _subcategories(root)
    train, valid = [], []
    files = sorted((root / "SemEval-2012-Gold-Ratings").glob("*/GoldRatings-*.txt"))
    if not files:
        raise FileNotFoundError(f"no GoldRatings files under {root}")
    for path in files:
        sub = path.stem.split("-", 1)[1]
        rows = read_gold_ratings(path)
        positive = [pair for score, pair in rows if score > 0]
        negative = [pair for score, pair in reversed(rows) if score < 0]
        name = f"{parents[sub]}/{sub}"
        train.append(Relation(name, positive[:N_TRAIN], negative[:N_TRAIN]))
        valid.append(Relation(name, positive[N_TRAIN : N_TRAIN + N_VALID], negative[N_TRAIN : N_TRAIN + N_VALID]))
    key = lambda r: (int(re.match(r".*/(\d+)", r.name).group(1)), r.name)  # noqa: E731
    return sorted(train, key=key), sorted(valid, key=key)


def semeval_validation_questions(valid: List[Relation], seed: int = 0) -> AnalogyDataset:
    """Analogy questions from the held-out pairs: the stem is a held-out positive, the answer
    another positive of the same relation, the distractors two held-out negatives of that
    relation and two positives of relations under other parents."""
    rng = random.Random(seed)
    questions = []
    for relation in valid:
        others = [p for r in valid if r.parent != relation.parent for p in r.positives]
        pos = relation.positives
        for i, stem in enumerate(pos):
            if len(pos) < 2:
                break
            answer = pos[(i + 1) % len(pos)]
            distractors = rng.sample(relation.negatives, min(2, len(relation.negatives))) + rng.sample(others, 2)
            choice = distractors[:]
            index = rng.randrange(len(choice) + 1)
            choice.insert(index, answer)
            questions.append(AnalogyQuestion(stem, choice, index, relation.parent))
    return AnalogyDataset("semeval_valid", Path("semeval2012_task2"), questions)
