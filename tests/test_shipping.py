"""Exporting a fine-tuned checkpoint as the shipped default: changed tensors only, row-sparse where few rows moved."""
from __future__ import annotations

import torch
from safetensors.torch import load_file

from relbert import RelBERT
from relbert.make_delta import export_delta
from relbert.shipping import ROWS, VALUES, WEIGHTS, apply_delta


def test_export_then_apply_restores_the_trained_tensors(minilm_path, tmp_path):
    trained = RelBERT.from_pretrained(minilm_path, device="cpu")
    state = trained.model.state_dict()
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
    apply_delta(fresh.model, out)
    got = fresh.model.state_dict()
    for name in (emb, layer):
        torch.testing.assert_close(got[name], state[name], rtol=1e-3, atol=1e-3)  # fp16 storage
    untouched = torch.ones(len(state[emb]), dtype=torch.bool)
    untouched[rows] = False
    assert torch.equal(got[emb][untouched], state[emb][untouched])  # exact where nothing changed
