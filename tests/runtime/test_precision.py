"""Reduced-precision inference modes against the fp32 model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from relbert import RelBERT

PAIRS = [("paris", "france"), ("dog", "bark"), ("natural selection", "evolution"), ("hot", "cold")]


@pytest.mark.parametrize("precision, min_cosine", [("bf16", 0.995), ("int8", 0.85)])
def test_reduced_precision_close_to_fp32(minilm, precision, min_cosine, tmp_path):
    model = RelBERT.from_pretrained(minilm.name_or_path, precision=precision, device="cpu")
    reduced, full = model.embed(PAIRS), minilm.embed(PAIRS)
    assert reduced.dtype == np.float32 and reduced.shape == full.shape
    cosines = (reduced * full).sum(1)
    assert cosines.min() >= min_cosine, cosines
    # bf16 keeps the ranking analogy scoring uses (int8's change is measured on the validation splits).
    if precision == "bf16":
        assert np.array_equal(np.argsort(-(reduced @ reduced.T), axis=1)[:, 1], np.argsort(-(full @ full.T), axis=1)[:, 1])
    # a converted model saves the fp32 weights it was loaded from (so an auto-bf16 model saves too)
    model.save_pretrained(tmp_path / "saved")
    again = RelBERT.from_pretrained(str(tmp_path / "saved"), precision="fp32", device="cpu")
    np.testing.assert_allclose(again.embed(PAIRS), full, atol=1e-6)


def test_bad_precision_choices(minilm):
    with pytest.raises(ValueError, match="unknown precision"):
        RelBERT.from_pretrained(minilm.name_or_path, precision="fp8")
    with pytest.raises(ValueError, match="CUDA"):
        RelBERT.from_pretrained(minilm.name_or_path, precision="fp16", device="cpu")


def test_compiled_encoder_matches_eager(tmp_path, caplog):
    """compile=True (torch.compile, dynamic lengths, frozen weights) gives the eager vectors and says it compiles."""
    from helpers.tiny_model import build_tiny_bert

    folder = build_tiny_bert(tmp_path / "tiny")
    eager = RelBERT.from_pretrained(str(folder), device="cpu")
    with caplog.at_level("WARNING", logger="relbert"):
        compiled = RelBERT.from_pretrained(str(folder), device="cpu", compile=True)
    assert "torch.compile" in caplog.text
    pairs = PAIRS + [("a b c d", "e f"), ("x", "y z")]  # several prompt lengths: no recompilation per length
    np.testing.assert_allclose(compiled.embed(pairs, batch_size=3), eager.embed(pairs, batch_size=3), atol=1e-5)
    compiled.save_pretrained(tmp_path / "saved")  # the module behind torch.compile is saved
    np.testing.assert_allclose(RelBERT.from_pretrained(str(tmp_path / "saved")).embed(pairs), eager.embed(pairs), atol=1e-6)


def test_torch_int8_weights_have_one_scale_per_output_row(minilm):
    """runtime='torch' int8 quantizes every Linear with per-row weight scales (closer to fp32)."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    model = RelBERT.from_pretrained(minilm.name_or_path, precision="int8", runtime="torch", device="cpu")
    quantized = [m for m in model.encoder.modules() if isinstance(m, DynamicLinear)]
    assert len(quantized) == sum(1 for m in minilm.encoder.modules() if isinstance(m, torch.nn.Linear))
    for layer in quantized:
        weight = layer.weight()
        assert weight.qscheme() == torch.per_channel_affine
        assert weight.q_per_channel_scales().shape == (weight.shape[0],)
    cosines = (model.embed(PAIRS) * minilm.embed(PAIRS)).sum(1)
    assert cosines.min() >= 0.9, cosines
