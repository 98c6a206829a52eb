"""Losses against values computed by hand (plain Python math) on tiny tensors,
and against the official package's formulas re-typed literally."""
from __future__ import annotations

import math

import pytest
import torch

from relbert.training.losses import PairClassifier, info_nce, triplet


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


P = [[1.0, 0.0], [0.6, 0.8]]
N = [[0.0, 1.0], [-1.0, 0.0], [1.0, 1.0]]


@pytest.mark.parametrize("info_loob", [False, True])
def test_info_nce_by_hand(info_loob):
    t = 0.5
    expected = 0.0
    for pi in P:
        d = sum(math.exp(cos(pi, nj) / t) for nj in N)
        for pk in P:
            s = math.exp(cos(pi, pk) / t)
            expected += -math.log(s / (d + 1e-5)) if info_loob else -math.log(s / (d + s + 1e-5))
    got = info_nce(torch.tensor(P), torch.tensor(N), temperature=t, info_loob=info_loob)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_info_nce_scale_invariant_and_gradients():
    p = torch.tensor(P, requires_grad=True)
    loss = info_nce(p, torch.tensor(N), temperature=0.05)
    loss.backward()
    assert p.grad is not None and torch.isfinite(p.grad).all()
    assert float(info_nce(torch.tensor(P) * 3, torch.tensor(N) * 7, temperature=0.05)) == pytest.approx(loss.item(), rel=1e-5)


def test_classifier_head_adds_bce():
    torch.manual_seed(0)
    head = PairClassifier(2)
    p, n = torch.tensor(P), torch.tensor(N)
    base = info_nce(p, n, temperature=0.5)
    with_head = info_nce(p, n, temperature=0.5, classifier=head)
    w, b = head.linear.weight[0].tolist(), head.linear.bias[0].item()

    def prob(u, v):
        z = sum(wi * xi for wi, xi in zip(w, u + v + [abs(x - y) for x, y in zip(u, v)])) + b
        return 1 / (1 + math.exp(-z))

    extra = 0.0
    for u in P:
        terms = [-math.log(prob(u, v)) for v in P] + [-math.log(1 - prob(u, v)) for v in N]
        extra += sum(terms) / len(terms)
    assert (with_head - base).item() == pytest.approx(extra, rel=1e-5)


def dist(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def test_triplet_by_hand():
    a = [[0.0, 0.0], [1.0, 0.0]]
    p = [[0.5, 0.0], [1.0, 2.0]]
    n = [[3.0, 0.0], [1.0, 0.5]]
    margin = 0.2

    def h(x, y, z):
        return max(0.0, dist(x, y) - dist(x, z) - margin)

    expected = sum(h(a[i], p[i], n[i]) + h(p[i], a[i], n[i]) for i in range(2))
    # In-batch negatives on the flattened batch (the official sample_augmentation).
    for first, second in ((a, p), (p, a)):
        flat_first, flat_second = sum(first, []), sum(second, [])
        for i in range(2):
            expected += h(flat_first, flat_second, second[i] * 2)
    got = triplet(torch.tensor(a), torch.tensor(p), torch.tensor(n), margin=margin)
    assert float(got) == pytest.approx(expected, rel=1e-5)

    pp, nn_ = [[0.1, 0.1], [2.0, 2.0]], [[0.0, 0.1], [5.0, 5.0]]
    expected_parent = expected + sum(h(a[i], pp[i], nn_[i]) + h(pp[i], a[i], nn_[i]) for i in range(2))
    got = triplet(torch.tensor(a), torch.tensor(p), torch.tensor(n), margin=margin,
                  positive_parent=torch.tensor(pp), negative_parent=torch.tensor(nn_))
    assert float(got) == pytest.approx(expected_parent, rel=1e-5)


def test_triplet_matches_official_formula():
    """The official loss_triplet re-typed from relbert 2.0.2 (util.py), without the head."""
    def official(ta, tp, tn, margin):
        def main_loss(va, vp, vn):
            dp = torch.sum((va - vp) ** 2, -1) ** 0.5
            dn = torch.sum((va - vn) ** 2, -1) ** 0.5
            return torch.sum(torch.clip(dp - dn - margin, min=0))

        def aug(va, vp):
            a_ = va.unsqueeze(-1).permute(2, 0, 1).repeat(len(va), 1, 1).reshape(len(va), -1)
            p_ = vp.unsqueeze(-1).permute(2, 0, 1).repeat(len(vp), 1, 1).reshape(len(vp), -1)
            n_ = vp.unsqueeze(-1).permute(0, 2, 1).repeat(1, len(vp), 1).reshape(len(vp), -1)
            return a_, p_, n_

        loss = main_loss(ta, tp, tn) + main_loss(tp, ta, tn)
        loss += main_loss(*aug(ta, tp)) + main_loss(*aug(tp, ta))
        return loss

    torch.manual_seed(0)
    a, p, n = torch.randn(5, 8), torch.randn(5, 8), torch.randn(5, 8)
    for margin in (0.0, 1.0, -0.5):
        assert float(triplet(a, p, n, margin=margin)) == pytest.approx(float(official(a, p, n, margin)), rel=1e-5)
