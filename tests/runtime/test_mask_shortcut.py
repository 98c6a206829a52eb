"""The ``mask`` pooling shortcut (last layer evaluated at the mask token only) gives the vectors
of the full forward: checked against the HF model run on each prompt alone (no padding)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from relbert import RelBERT

from helpers.pooling_reference import hand_pooled
from helpers.tiny_model import build_tiny_bert, build_tiny_distilbert, build_tiny_roberta

PAIRS = [("paris", "france"), ("dog", "bark"), ("natural selection", "evolution"),
         ("a long head phrase", "x"), ("café", "crème brûlée")]


def full_forward_at_mask(model: RelBERT, pair) -> np.ndarray:
    """Reference: the untouched HF encoder on one prompt (no padding), unit vector at the mask token."""
    vector = hand_pooled(model, pair, "mask")
    return vector / np.linalg.norm(vector)


@pytest.fixture(scope="module")
def encoders(tmp_path_factory, minilm_path):
    root = tmp_path_factory.mktemp("shortcut")
    return {"tiny-bert": str(build_tiny_bert(root / "bert", layers=3)),
            "tiny-roberta": str(build_tiny_roberta(root / "roberta")),
            "minilm": minilm_path}


@pytest.mark.parametrize("name", ["tiny-bert", "tiny-roberta", "minilm"])
@pytest.mark.parametrize("template", ["a", "d"])
def test_shortcut_equals_full_forward(encoders, name, template):
    model = RelBERT.from_pretrained(encoders[name], template=template, aggregation="mask", device="cpu")
    assert model.mask_shortcut is not None, "BERT-family encoders take the shortcut"
    vectors = model.embed(PAIRS, batch_size=len(PAIRS))  # one padded batch: the mask sits at different positions
    for pair, row in zip(PAIRS, vectors):
        np.testing.assert_allclose(row, full_forward_at_mask(model, pair), atol=2e-5)
    # and the same through the full forward path of embed
    model.mask_shortcut = None
    np.testing.assert_allclose(model.embed(PAIRS, batch_size=2), vectors, atol=2e-5)


@pytest.mark.parametrize("aggregation", ["average", "average_no_mask"])
def test_shortcut_only_for_mask_pooling(encoders, aggregation):
    assert RelBERT.from_pretrained(encoders["tiny-bert"], aggregation=aggregation).mask_shortcut is None


def test_other_architectures_keep_the_full_forward(tmp_path):
    model = RelBERT.from_pretrained(str(build_tiny_distilbert(tmp_path / "distil")), template="a", aggregation="mask",
                                    device="cpu")
    assert model.mask_shortcut is None
    vectors = model.embed(PAIRS)
    for pair, row in zip(PAIRS, vectors):
        np.testing.assert_allclose(row, full_forward_at_mask(model, pair), atol=2e-5)


def test_encoder_is_restored_after_each_call(encoders):
    model = RelBERT.from_pretrained(encoders["tiny-bert"], template="d", aggregation="mask", device="cpu")
    layers = list(model.encoder.encoder.layer)
    pooler = model.encoder.pooler
    keys = list(model.encoder.state_dict())
    model.embed(PAIRS)
    assert list(model.encoder.encoder.layer) == layers and model.encoder.pooler is pooler
    assert list(model.encoder.state_dict()) == keys
    with pytest.raises(IndexError):  # restored even when the forward fails
        model.mask_shortcut.hidden_at(torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.long),
                                      torch.tensor([7]))  # position out of range
    assert list(model.encoder.encoder.layer) == layers and model.encoder.pooler is pooler


@pytest.mark.parametrize("precision, min_cosine", [("bf16", 0.999), ("int8", 0.98)])
def test_reduced_precision_shortcut_close_to_its_full_forward(default_model, precision, min_cosine):
    """bf16 / int8 take the shortcut too; vectors stay within rounding (bf16) or activation
    quantization noise (int8: the query's scale comes from the mask row alone) of the full forward."""
    model = RelBERT.from_pretrained(device="cpu", precision=precision, runtime="torch")
    assert model.mask_shortcut is not None
    fast = model.embed(PAIRS)
    model.mask_shortcut = None
    full = model.embed(PAIRS)
    assert float((fast * full).sum(1).min()) >= min_cosine
