"""Analogy question files whose answers are known by construction."""
from __future__ import annotations

import json

import numpy as np

WORDS = ["paris", "france", "dog", "bark", "hot", "cold", "wheel", "car", "pen", "write", "oak", "tree"]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def known_answer_questions(n=12, seed=0):
    """The correct choice is the stem pair itself (cosine 1), the others differ."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        stem = list(rng.choice(WORDS, 2, replace=False))
        others = [list(rng.choice(WORDS, 2, replace=False)) for _ in range(int(rng.integers(1, 6)))]
        others = [o for o in others if o != stem] or [[stem[1], stem[0]]]
        answer = int(rng.integers(0, len(others) + 1))
        records.append({"stem": stem, "choice": others[:answer] + [stem] + others[answer:], "answer": answer,
                        "prefix": f"group{i % 2}"})
    return records
