"""Reduced-precision inference modes against the fp32 model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from relbert import RelBERT

PAIRS = [("paris", "france"), ("dog", "bark"), ("natural selection", "evolution"), ("hot", "cold")]


@pytest.mark.parametrize("precision, min_cosine", [("bf16", 0.995), ("int8", 0.85)])
def test_reduced_precision_close_to_fp32(minilm, precision, min_cosine):
    if precision == "bf16" and not torch.cpu._is_avx512_bf16_supported():
        pytest.skip("no native bf16 on this CPU")
    model = RelBERT.from_pretrained(minilm.name_or_path, precision=precision, device="cpu")
    reduced, full = model.embed(PAIRS), minilm.embed(PAIRS)
    assert reduced.dtype == np.float32 and reduced.shape == full.shape
    cosines = (reduced * full).sum(1)
    assert cosines.min() >= min_cosine, cosines
    # bf16 keeps the ranking analogy scoring uses (int8's change is measured on the validation splits).
    if precision == "bf16":
        assert np.array_equal(np.argsort(-(reduced @ reduced.T), axis=1)[:, 1], np.argsort(-(full @ full.T), axis=1)[:, 1])
    with pytest.raises(ValueError, match="fp32"):
        model.save_pretrained("/nonexistent")


def test_bad_precision_choices(minilm):
    with pytest.raises(ValueError, match="unknown precision"):
        RelBERT.from_pretrained(minilm.name_or_path, precision="fp8")
    with pytest.raises(ValueError, match="CUDA"):
        RelBERT.from_pretrained(minilm.name_or_path, precision="fp16", device="cpu")
