"""Pairs files of random pairs over a small vocabulary (with duplicates) for streaming and search tests."""
from __future__ import annotations

import random
from pathlib import Path


def make_pairs(path: Path, n: int, seed: int = 0, vocab: int = 3000) -> list:
    """n random pairs over a small vocabulary: duplicates occur, near and far apart."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocab)] + ["natural selection", "café", "rock'n'roll"]
    pairs = [(rng.choice(words), rng.choice(words)) for _ in range(n)]
    for i in rng.sample(range(n), n // 20):  # explicit repeats of earlier rows
        pairs[i] = pairs[rng.randrange(max(1, i))]
    path.write_text("".join(f"{h}\t{t}\n" for h, t in pairs), encoding="utf-8")
    return pairs
