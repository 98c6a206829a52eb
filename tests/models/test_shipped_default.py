"""The fine-tuned embedded default shipped in the package."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from relbert import RelBERT
from relbert.models.shipping import DEFAULT_DIR, WEIGHTS, shipped_default, split_delta

pytestmark = pytest.mark.skipif(shipped_default() is None, reason="this package ships no fine-tuned default")


def test_shipped_files_are_small_and_described():
    size = (DEFAULT_DIR / WEIGHTS).stat().st_size
    assert size <= 25 * 2**20
    meta = shipped_default()
    assert {"base", "relbert_config", "command", "seed", "validation"} <= set(meta)


def test_the_installed_package_stays_under_50_mb():
    """Everything the package installs (its files, the kernels package, the built extension)."""
    import relbert
    import relbert.kernels
    from pathlib import Path

    folders = {Path(relbert.__file__).parent, Path(relbert.kernels.__file__).parent}
    files = {p for folder in folders for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert sum(p.stat().st_size for p in files) < 50 * 10**6


def test_default_applies_shipped_weights_over_the_base(default_model, minilm):
    meta = shipped_default()
    assert default_model.is_trained
    assert default_model.template == meta["relbert_config"]["template"]
    assert default_model.aggregation == meta["relbert_config"]["aggregation_mode"]
    dense, sparse, low_rank = split_delta(load_file(str(DEFAULT_DIR / WEIGHTS)))
    assert not low_rank  # the MiniLM default ships whole tensors and rows
    state, base = default_model.encoder.state_dict(), minilm.encoder.state_dict()
    for name, value in dense.items():
        assert torch.equal(state[name], value.float())  # fp16 values, held in fp32
    for name, (rows, values) in sparse.items():
        assert torch.equal(state[name][rows], values.float())
        others = torch.ones(len(state[name]), dtype=torch.bool)
        others[rows] = False
        assert torch.equal(state[name][others], base[name][others])
    untouched = [n for n in state if n not in dense and n not in sparse]
    assert untouched and all(torch.equal(state[n], base[n]) for n in untouched)


def test_default_round_trips_through_save_pretrained(default_model, tmp_path):
    default_model.save_pretrained(tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["relbert_config"] == default_model.relbert_config()
    loaded = RelBERT.from_pretrained(tmp_path / "ckpt")
    pairs = [("paris", "france"), ("dog", "bark")]
    np.testing.assert_allclose(loaded.embed(pairs), default_model.embed(pairs), atol=1e-6)


def test_default_separates_relations_better_than_the_base(default_model, minilm):
    """Same-relation pairs closer than other-relation pairs (a margin the base model lacks)."""
    capitals = [("paris", "france"), ("tokyo", "japan"), ("rome", "italy"), ("madrid", "spain")]
    young = [("puppy", "dog"), ("kitten", "cat"), ("calf", "cow"), ("cub", "lion")]

    def margin(model):
        v = model.embed(capitals + young)
        sims = v @ v.T
        same = np.concatenate([sims[:4, :4][np.triu_indices(4, 1)], sims[4:, 4:][np.triu_indices(4, 1)]]).mean()
        return same - sims[:4, 4:].mean()

    assert margin(default_model) > margin(minilm)
