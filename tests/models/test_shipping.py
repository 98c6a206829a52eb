"""Exporting a fine-tuned checkpoint as the shipped default: changed tensors only, row-sparse where few rows moved."""
from __future__ import annotations

import torch
from safetensors.torch import load_file

from relbert import RelBERT
from relbert.models.delta import export_delta
from relbert.models.shipping import ROWS, VALUES, WEIGHTS, apply_delta


def test_export_then_apply_restores_the_trained_tensors(minilm_path, tmp_path):
    trained = RelBERT.from_pretrained(minilm_path, device="cpu")
    state = trained.encoder.state_dict()
    emb = "embeddings.word_embeddings.weight"
    rows = torch.tensor([3, 1000, 2045])
    layer = "encoder.layer.0.attention.self.query.weight"
    with torch.no_grad():
        state[emb][rows] += 0.25
        state[layer].mul_(1.5)
    trained.save_pretrained(tmp_path / "ckpt")
    out = export_delta(str(tmp_path / "ckpt"), {"command": "test"}, out_dir=tmp_path / "ship")

    shipped = load_file(str(out / WEIGHTS))
    assert set(shipped) == {emb + ROWS, emb + VALUES, layer}  # nothing else changed
    assert torch.equal(shipped[emb + ROWS], rows)

    fresh = RelBERT.from_pretrained(minilm_path, device="cpu")
    apply_delta(fresh.encoder, out)
    got = fresh.encoder.state_dict()
    for name in (emb, layer):
        torch.testing.assert_close(got[name], state[name], rtol=1e-3, atol=1e-3)  # fp16 storage
    untouched = torch.ones(len(state[emb]), dtype=torch.bool)
    untouched[rows] = False
    assert torch.equal(got[emb][untouched], state[emb][untouched])  # exact where nothing changed


def test_low_rank_export_is_exact_for_a_low_rank_change_and_the_best_approximation_otherwise(minilm_path, tmp_path):
    from relbert.models.shipping import DOWN, UP

    trained = RelBERT.from_pretrained(minilm_path, device="cpu")
    state = trained.encoder.state_dict()
    base = {k: v.clone() for k, v in state.items()}
    generator = torch.Generator().manual_seed(0)
    low = "encoder.layer.1.attention.output.dense.weight"  # a rank-2 change (as LoRA r=2 gives)
    full = "encoder.layer.2.intermediate.dense.weight"  # a full-rank change
    with torch.no_grad():
        state[low] += 0.01 * torch.randn(384, 2, generator=generator) @ torch.randn(2, 384, generator=generator)
        state[full] += 0.01 * torch.randn(state[full].shape, generator=generator)
    trained.save_pretrained(tmp_path / "ckpt")
    out = export_delta(str(tmp_path / "ckpt"), {}, out_dir=tmp_path / "ship", rank=4)
    shipped = load_file(str(out / WEIGHTS))
    assert set(shipped) == {low + UP, low + DOWN, full + UP, full + DOWN}
    assert shipped[low + UP].shape == (384, 4) and shipped[low + DOWN].shape == (4, 384)

    fresh = RelBERT.from_pretrained(minilm_path, device="cpu")
    apply_delta(fresh.encoder, out)
    got = fresh.encoder.state_dict()
    torch.testing.assert_close(got[low], state[low], atol=1e-4, rtol=0)  # exact up to fp16 factors
    # the full-rank change: the rank-4 truncated SVD (Eckart-Young best), computed here with numpy
    import numpy as np

    change = (state[full] - base[full]).double().numpy()
    u, s, vh = np.linalg.svd(change, full_matrices=False)
    best = base[full].double().numpy() + (u[:, :4] * s[:4]) @ vh[:4]
    np.testing.assert_allclose(got[full].double().numpy(), best, atol=1e-4)
    assert np.abs(got[full].double().numpy() - state[full].double().numpy()).max() > 1e-3  # lossy, as expected
