"""Distillation: a student learns to reproduce a teacher's relation vectors.

The teacher (any model ``--model`` accepts, a named model such as relbert-mpnet included)
embeds the distillation pairs once per run, at its ``auto`` precision (bf16 only where native
and validated), through the same streamed, resumable writer as ``relbert-embed``
(``OUTPUT/teacher.npy``; an interrupted labelling continues where it stopped). The student's
pooled vector, mapped by a learned linear map when the widths differ, is pulled towards the
teacher's unit vector: ``1 - cos`` (``cosine``) or the squared error between unit vectors
(``mse``), summed over the batch like the contrastive losses.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from ..errors import UsageError

Pair = Tuple[str, str]


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, kind: str = "cosine") -> torch.Tensor:
    """Summed over rows: ``1 - cos(s, t)`` or ``|s/|s| - t/|t||^2`` (= 2 - 2 cos)."""
    s, t = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    if kind == "mse":
        return ((s - t) ** 2).sum()
    return (1.0 - (s * t).sum(-1)).sum()


def teacher_vectors(teacher: str, pairs_path: Path, output: Path, device: Optional[str] = None,
                    report: Optional[Callable[[str], None]] = None, show_progress: bool = False) -> np.ndarray:
    """The teacher's unit vectors of every line of ``pairs_path`` (row i = line i), computed once
    into ``output`` (resumable) and memory-mapped."""
    from ..model import RelBERT
    from ..embedding.run import EmbedRun, StreamOptions

    meta_path = output.with_name(output.name + ".json")
    meta = {"teacher": teacher, "pairs": str(pairs_path)}
    if output.is_file() and meta_path.is_file() and json.loads(meta_path.read_text()) == meta:
        return np.load(output, mmap_mode="r")
    model = RelBERT.from_pretrained(teacher, device=device)
    if report is not None:
        report(f"teacher {teacher}: labelling {pairs_path} at {model.precision} ({model.precision_reason})")
    run = EmbedRun(pairs_path, output, StreamOptions(normalize=True), resume=True, show_progress=show_progress)
    run.plan(model.tokenizer)
    run.embed(model)
    meta_path.write_text(json.dumps(meta))
    return np.load(output, mmap_mode="r")


class Distillation:
    """The distillation pairs, their teacher vectors and the student's linear map."""

    def __init__(self, pairs: List[Pair], vectors: np.ndarray, student_dim: int, device: torch.device,
                 kind: str = "cosine"):
        if len(pairs) != len(vectors):
            raise UsageError(f"{len(pairs)} distillation pairs but {len(vectors)} teacher vectors")
        self.pairs, self.vectors, self.kind, self.device = pairs, vectors, kind, device
        self.row = {pair: i for i, pair in enumerate(pairs)}
        teacher_dim = vectors.shape[1]
        # widths differ: a learned map from the student's space to the teacher's (trained with it)
        self.projection = torch.nn.Linear(student_dim, teacher_dim, bias=False).to(device) \
            if teacher_dim != student_dim else None
        if self.projection is not None:
            torch.nn.init.orthogonal_(self.projection.weight)

    def loss_fn(self, pairs: List[Pair]) -> Callable[[torch.Tensor], torch.Tensor]:
        targets = self.targets(pairs)

        def fn(vectors: torch.Tensor) -> torch.Tensor:
            mapped = self.projection(vectors) if self.projection is not None else vectors
            return distill_loss(mapped, targets, self.kind)

        return fn

    def batches(self, rng, size: int) -> List[List[Pair]]:
        """The epoch's batches of pairs, shuffled by ``rng``."""
        order = list(range(len(self.pairs)))
        rng.shuffle(order)
        return [[self.pairs[i] for i in order[s : s + size]] for s in range(0, len(order), size)]

    def targets(self, pairs: List[Pair]) -> torch.Tensor:
        """The teacher's unit vectors of ``pairs``."""
        rows = np.asarray(self.vectors[[self.row[p] for p in pairs]], dtype=np.float32)
        return torch.from_numpy(rows).to(self.device)
