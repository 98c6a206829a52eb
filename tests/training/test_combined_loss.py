"""Training on the relation + offset vector (``offset_weight`` λ): the loss of a hand-made batch
equals InfoNCE computed by hand (numpy) on ``[unit(r); sqrt(λ) unit(w_tail - w_head)] / sqrt(1 + λ)``
built from the inference path's own relation vectors and word offsets; λ = 0 is today's loss
exactly; the gradient reaches the encoder through both halves, or through the relation half
only when asked."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from relbert.training.config import TrainConfig
from relbert.training.encoding import GradientCachedEncoding
from relbert.training.losses import combined_vectors, info_nce

PAIRS = [("paris", "france"), ("tokyo", "japan"), ("rome", "italy"), ("dog", "bark"), ("cat", "meow"),
         ("hot", "cold"), ("paris", "paris")]  # the last: one word twice, a zero offset
N_POS = 3
TEMPERATURE = 0.5


def hand_info_nce(v: np.ndarray, n: int, temperature: float) -> float:
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    pos, neg = unit[:n], unit[n:]
    s_n = np.exp(pos @ neg.T / temperature)
    s_p = np.exp(pos @ pos.T / temperature)
    d = s_n.sum(axis=1, keepdims=True)
    return float(-np.log(s_p / (d + s_p + 1e-6)).sum())


def encoding_for(model, weight: float, gradient: str = "both"):
    config = TrainConfig(offset_weight=weight, offset_gradient=gradient, chunk_size=None).check()
    model.encoder.eval()  # no dropout: the hand computation is deterministic
    return GradientCachedEncoding(model, config, bf16=False)


def loss_fn(n=N_POS):
    return lambda v: info_nce(v[:n], v[n:], temperature=TEMPERATURE)


@pytest.fixture
def model(tiny_model_path):
    from relbert import RelBERT

    return RelBERT.from_pretrained(tiny_model_path, device="cpu", precision="fp32", template="a",
                                   aggregation="average_no_mask", offset_weight=0)


@pytest.mark.parametrize("weight", [0.3, 1.0, 4.0])
def test_the_combined_loss_is_infonce_on_the_combined_vector_by_hand(model, weight):
    from relbert.offsets import combine

    got = encoding_for(model, weight).backward(PAIRS, loss_fn(), seed=0)
    from relbert.runtime.pair_vectors import parts

    relation, offset = parts(model, PAIRS)
    combined = combine(relation, offset, weight)
    assert np.allclose(np.linalg.norm(combined, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(combined[-1, relation.shape[1]:], 0)  # one word twice: no offset part
    assert got == pytest.approx(hand_info_nce(combined.astype(np.float64), N_POS, TEMPERATURE), rel=1e-4)


def test_weight_zero_is_todays_loss_exactly(model):
    encoding = encoding_for(model, 0.0)
    assert encoding.combined(PAIRS, loss_fn(), 0) is not None
    got = encoding.backward(PAIRS, loss_fn(), seed=0)
    with torch.no_grad():
        today = float(loss_fn()(encoding.embed(PAIRS, 0)))
    assert got == today
    relation = torch.randn(4, 8)
    assert combined_vectors(relation, torch.randn(4, 8), 0.0) is relation


def test_combined_vectors_match_the_inference_arithmetic():
    from relbert.offsets import combine

    rng = np.random.default_rng(0)
    r, o = rng.standard_normal((5, 6)).astype(np.float32), rng.standard_normal((5, 6)).astype(np.float32)
    o[2] = 0
    np.testing.assert_allclose(combined_vectors(torch.from_numpy(r), torch.from_numpy(o), 0.7).numpy(),
                               combine(r, o, 0.7), atol=1e-6)
    assert math.isclose(float(combined_vectors(torch.from_numpy(r), torch.from_numpy(o), 0.7)[0].norm()), 1,
                        rel_tol=1e-6)


@pytest.mark.parametrize("gradient", ["both", "relation"])
def test_the_gradient_flows_where_asked(model, gradient):
    """With both halves the word-alone passes add their own gradient to the encoder's; with the
    relation half only they add none: the two steps' gradients differ, and are finite."""
    encoding = encoding_for(model, 1.0, gradient)
    model.encoder.zero_grad(set_to_none=True)
    encoding.backward(PAIRS, loss_fn(), seed=0)
    grads = {gradient: torch.cat([p.grad.flatten() for p in model.encoder.parameters() if p.grad is not None])}
    # the same step with the offsets held constant must differ exactly when gradient == "both"
    other = "relation" if gradient == "both" else "both"
    encoding = encoding_for(model, 1.0, other)
    model.encoder.zero_grad(set_to_none=True)
    encoding.backward(PAIRS, loss_fn(), seed=0)
    grads[other] = torch.cat([p.grad.flatten() for p in model.encoder.parameters() if p.grad is not None])
    assert not torch.allclose(grads["both"], grads["relation"])
    assert torch.isfinite(grads[gradient]).all()


def test_gradient_caching_gives_the_same_loss(model):
    """Chunked (gradient-cached) and one-pass steps see the same combined loss."""
    one = encoding_for(model, 0.5).backward(PAIRS, loss_fn(), seed=0)
    chunked = encoding_for(model, 0.5)
    chunked.config.chunk_size = 2
    assert chunked.backward(PAIRS, loss_fn(), seed=0) == pytest.approx(one, rel=1e-5)
