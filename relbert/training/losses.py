"""Contrastive losses of RelBERT, with the official package's definitions (relbert 2.0.2).

All losses take pooled relation vectors (not normalized; cosine is computed inside) and
return a scalar summed (not averaged) over terms, as the official code does.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

EPS = 1e-5  # the official constant in the InfoNCE denominators


def _cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(len(a), len(b)) cosine similarities, as ``torch.nn.CosineSimilarity(dim=2)`` on broadcast rows."""
    return F.cosine_similarity(a.unsqueeze(1), b.unsqueeze(0), dim=2)


class PairClassifier(torch.nn.Module):
    """The SBERT-style 3-way head: ``sigmoid(w · [u, v, |u - v|] + b)`` = P(same relation)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = torch.nn.Linear(3 * hidden_size, 1)
        self.linear.weight.data.normal_(std=0.02)

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(torch.cat([u, v, (u - v).abs()], dim=-1)))


def info_nce(
    positive: torch.Tensor,
    negative: torch.Tensor,
    temperature: float = 0.05,
    info_loob: bool = False,
    classifier: Optional[PairClassifier] = None,
) -> torch.Tensor:
    """InfoNCE (or InfoLOOB) over one relation's positives against negatives.

    With ``s(x, y) = exp(cos(x, y) / temperature)`` and ``D_i = sum_j s(p_i, n_j)``:
    InfoNCE is ``sum_{i,k} -log(s(p_i, p_k) / (D_i + s(p_i, p_k) + eps))`` over every ordered
    pair of positives (``i = k`` included, as in the official code); InfoLOOB leaves the
    positive term out of the denominator: ``-log(s(p_i, p_k) / (D_i + eps))``.

    Args:
        positive: (P, H) vectors of the relation's positive pairs.
        negative: (N, H) vectors of negatives (the relation's own negatives, usually
            augmented with other relations' positives).
        temperature: softmax temperature.
        info_loob: use InfoLOOB instead of InfoNCE.
        classifier: optional 3-way head; adds, per anchor i, the mean BCE of classifying
            (p_i, p_k) as 1 and (p_i, n_j) as 0.
    """
    logit_n = torch.exp(_cosine_matrix(positive, negative) / temperature)
    denominator = logit_n.sum(dim=-1, keepdim=True)
    logit_p = torch.exp(_cosine_matrix(positive, positive) / temperature)
    if info_loob:
        loss = -torch.log(logit_p / (denominator + EPS)).sum()
    else:
        loss = -torch.log(logit_p / (denominator + logit_p + EPS)).sum()
    if classifier is not None:
        P, N = len(positive), len(negative)
        for i in range(P):
            anchor = positive[i].expand(P + N, -1)
            others = torch.cat([positive, negative])
            labels = torch.cat([torch.ones(P, 1), torch.zeros(N, 1)]).to(positive.device)
            loss = loss + F.binary_cross_entropy(classifier(anchor, others), labels)
    return loss


def _hinge(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float) -> torch.Tensor:
    d_pos = ((anchor - positive) ** 2).sum(-1).sqrt()
    d_neg = ((anchor - negative) ** 2).sum(-1).sqrt()
    return torch.clamp(d_pos - d_neg - margin, min=0).sum()


def _bce_head(classifier, anchor, positive, negative) -> torch.Tensor:
    u = torch.cat([anchor, anchor])
    v = torch.cat([positive, negative])
    labels = torch.cat([torch.ones(len(positive), 1), torch.zeros(len(negative), 1)]).to(anchor.device)
    return F.binary_cross_entropy(classifier(u, v), labels)


def triplet(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float = 1.0,
    positive_parent: Optional[torch.Tensor] = None,
    negative_parent: Optional[torch.Tensor] = None,
    classifier: Optional[PairClassifier] = None,
) -> torch.Tensor:
    """Triplet loss with margin over a batch of (anchor, positive, negative) rows, one relation a row.

    ``h(a, p, n) = sum max(0, |a - p| - |a - n| - margin)`` (Euclidean). The loss is
    symmetric — ``h(a, p, n) + h(p, a, n)`` — plus in-batch negatives (other rows' positives,
    computed on the flattened batch as the official ``sample_augmentation`` does), plus, when
    relations have parents, ``h(a, pp, np) + h(pp, a, np)`` with a positive of a sibling
    relation (same parent) and a positive of a relation under another parent. The optional
    3-way head adds BCE terms for (a, p) vs (a, n) and (a, pp) vs (a, np).

    Args:
        anchor, positive, negative: (B, H).
        margin: the hinge margin.
        positive_parent, negative_parent: (B, H) parent-class triplet members, or None.
        classifier: optional :class:`PairClassifier`.
    """
    loss = _hinge(anchor, positive, negative, margin) + _hinge(positive, anchor, negative, margin)
    if classifier is not None:
        loss = loss + _bce_head(classifier, anchor, positive, negative)
    # In-batch negatives exactly as the official ``sample_augmentation``: every row i compares
    # the whole batch flattened — (a_1..a_B) vs (p_1..p_B) — against (p_i, ..., p_i), i.e. the
    # positive of another relation tiled B times as the negative.
    B = len(anchor)
    for first, second in ((anchor, positive), (positive, anchor)):
        a = first.reshape(1, -1).expand(B, -1)  # (B, B*H): every row = first flattened
        p = second.reshape(1, -1).expand(B, -1)  # (B, B*H): every row = second flattened
        n = second.unsqueeze(1).expand(B, B, -1).reshape(B, -1)  # (B, B*H): row i = second[i] tiled
        loss = loss + _hinge(a, p, n, margin)
    if positive_parent is not None and negative_parent is not None:
        loss = loss + _hinge(anchor, positive_parent, negative_parent, margin)
        loss = loss + _hinge(positive_parent, anchor, negative_parent, margin)
        if classifier is not None:
            loss = loss + _bce_head(classifier, anchor, positive_parent, negative_parent)
    return loss


def combined_vectors(relation: torch.Tensor, offset: torch.Tensor, weight: float) -> torch.Tensor:
    """The relation + offset vectors of :func:`relbert.offsets.combine` in torch (differentiable):
    ``[unit(r) ; sqrt(λ) unit(o)] / sqrt(1 + λ)``, a zero offset (one word twice) leaving
    ``[unit(r) ; 0]``. ``weight`` 0 returns ``relation`` itself (the relation-only losses, exactly)."""
    if weight == 0:
        return relation
    unit_r = F.normalize(relation, dim=-1)
    norm = offset.norm(dim=-1, keepdim=True)
    present = norm > 0
    unit_o = offset / torch.where(present, norm, torch.ones_like(norm))
    both = torch.cat([unit_r, math.sqrt(weight) * unit_o], dim=-1)
    return both * torch.where(present, torch.full_like(norm, 1 / math.sqrt(1 + weight)), torch.ones_like(norm))
