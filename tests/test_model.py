"""RelBERT model: the paper's pooling definitions, batch invariance, dedup, save/load."""
from __future__ import annotations

import json

import numpy as np
import torch
import pytest

from relbert import RelBERT
from relbert.model import read_relbert_config
from relbert.templates import TEMPLATES

from helpers.pooling_reference import hand_pooled

PAIRS = [("paris", "france"), ("tokyo", "japan"), ("dog", "bark"), ("natural selection", "evolution")]


@pytest.mark.parametrize("aggregation", ["mask", "average", "average_no_mask"])
@pytest.mark.parametrize("template", ["a", "d"])
def test_aggregation_matches_hand_computation(minilm, aggregation, template):
    model = RelBERT.__new__(RelBERT)
    model.__dict__.update(minilm.__dict__)
    from relbert.tokenization import PairTokenizer

    model.template, model.aggregation = TEMPLATES[template], aggregation
    model.tokenizer = PairTokenizer(minilm.hf_tokenizer, template, aggregation)
    raw = model.embed(PAIRS, normalize=False)
    unit = model.embed(PAIRS)
    for i, pair in enumerate(PAIRS):
        expected = hand_pooled(model, pair, aggregation)
        np.testing.assert_allclose(raw[i], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
        np.testing.assert_allclose(unit[i], expected / np.linalg.norm(expected), atol=1e-5)


def test_batch_invariance(minilm):
    alone = minilm.embed([("dog", "cat")])[0]
    long_words = [("supercalifragilistic expialidocious", "antidisestablishmentarianism"),
                  ("internationalization", "pneumonoultramicroscopic silicovolcanoconiosis")] * 10
    in_batch = minilm.embed(long_words + [("dog", "cat")], batch_size=64)[-1]
    assert float(alone @ in_batch) >= 0.99999


def test_duplicates_and_row_order(minilm):
    pairs = [("a", "b"), ("dog", "cat"), ("a", "b"), ("cat", "dog"), ("dog", "cat")]
    out = minilm.embed(pairs, batch_size=2)
    assert out.shape == (5, minilm.hidden_size) and out.dtype == np.float32
    assert np.array_equal(out[0], out[2]) and np.array_equal(out[1], out[4])
    singles = np.stack([minilm.embed([p])[0] for p in pairs])
    np.testing.assert_allclose(out, singles, atol=1e-5)
    assert not np.allclose(out[1], out[3])  # order of the pair matters
    assert minilm.embed([]).shape == (0, minilm.hidden_size)


def test_get_embedding_shim(minilm):
    one = minilm.get_embedding(["paris", "france"])
    many = minilm.get_embedding([["paris", "france"], ("tokyo", "japan")])
    assert one.shape == (minilm.hidden_size,) and many.shape == (2, minilm.hidden_size)
    np.testing.assert_allclose(one, many[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(many, minilm.embed(PAIRS[:2], normalize=False), rtol=1e-5, atol=1e-5)


def test_too_long_prompt_raises(minilm):
    with pytest.raises(ValueError, match="max_length"):
        minilm.embed([("word " * 60, "cat")])


def test_save_load_round_trip(minilm, tmp_path):
    model = RelBERT.from_pretrained(minilm.name_or_path, template="d", aggregation="mask")
    model.save_pretrained(tmp_path / "ckpt")
    files = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert "model.safetensors" in files and "tokenizer.json" in files
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["relbert_config"] == {"aggregation_mode": "mask", "template": TEMPLATES["d"]}
    loaded = RelBERT.from_pretrained(tmp_path / "ckpt")
    assert loaded.template == TEMPLATES["d"] and loaded.aggregation == "mask" and loaded.is_trained
    np.testing.assert_allclose(loaded.embed(PAIRS), model.embed(PAIRS), atol=1e-6)
    override = RelBERT.from_pretrained(tmp_path / "ckpt", template="a", aggregation="average")
    assert override.template == TEMPLATES["a"] and override.aggregation == "average"


@pytest.mark.parametrize("block, template, aggregation", [
    ({"aggregation_mode": "average", "template": TEMPLATES["b"]}, TEMPLATES["b"], "average"),
    ({"mode": "mask", "template": TEMPLATES["c"], "template_mode": "manual"}, TEMPLATES["c"], "mask"),
    ({"mode": "average_no_mask", "template": "e", "template_mode": "e"}, TEMPLATES["e"], "average_no_mask"),
])
def test_older_relbert_config_generations_load(minilm, tmp_path, block, template, aggregation):
    folder = tmp_path / "old"
    minilm.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["relbert_config"] = block
    (folder / "config.json").write_text(json.dumps(config))
    assert read_relbert_config(config) == {"template": template, "aggregation": aggregation}
    loaded = RelBERT.from_pretrained(folder)
    assert (loaded.template, loaded.aggregation) == (template, aggregation)


def test_missing_model_folder_is_clear(tmp_path):
    from relbert.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="no such folder"):
        RelBERT.from_pretrained(str(tmp_path / "absent"))


def test_embed_takes_one_pair_and_encode_is_there(default_model):
    import numpy as np

    one = default_model.embed(("paris", "france"))
    assert one.shape == (default_model.dimension,)
    np.testing.assert_array_equal(one, default_model.embed([("paris", "france")])[0])
    np.testing.assert_array_equal(default_model.encode([("paris", "france"), ("dog", "bark")]),
                                  default_model.embed([("paris", "france"), ("dog", "bark")]))


def test_save_pretrained_weights_take_the_users_umask(tmp_path, tiny_model_path):
    import os

    from relbert import RelBERT

    old = os.umask(0o022)
    try:
        RelBERT.from_pretrained(tiny_model_path, device="cpu").save_pretrained(tmp_path / "saved")
    finally:
        os.umask(old)
    assert {p.name: os.stat(p).st_mode & 0o777 for p in (tmp_path / "saved").iterdir()}["model.safetensors"] == 0o644


def test_a_model_is_built_from_its_parts(tiny_model_path, tmp_path):
    """RelBERT.from_parts (an HF encoder and tokenizer in memory) embeds what from_pretrained
    embeds, reads the relbert_config block, and a bf16 model from parts saves its fp32 weights."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    pairs = [("paris", "france"), ("dog", "bark"), ("a washing machine", "laundry")]
    loaded = RelBERT.from_pretrained(tiny_model_path, template="d", aggregation="mask", device="cpu", precision="fp32")
    encoder, tokenizer = AutoModel.from_pretrained(tiny_model_path), AutoTokenizer.from_pretrained(tiny_model_path)
    built = RelBERT.from_parts(encoder, tokenizer, template="d", aggregation="mask", device="cpu")
    np.testing.assert_array_equal(built.embed(pairs), loaded.embed(pairs))
    assert (built.template, built.aggregation, built.precision) == (loaded.template, "mask", "fp32")
    built.save_pretrained(tmp_path / "saved")
    again = RelBERT.from_parts(AutoModel.from_pretrained(tmp_path / "saved"), AutoTokenizer.from_pretrained(tmp_path / "saved"))
    assert (again.template, again.aggregation, again.is_trained) == (loaded.template, "mask", True)
    reference = {k: v.clone() for k, v in AutoModel.from_pretrained(tiny_model_path).state_dict().items()}
    half = RelBERT.from_parts(AutoModel.from_pretrained(tiny_model_path), tokenizer, device="cpu", precision="bf16")
    assert next(half.encoder.parameters()).dtype == torch.bfloat16
    half.save_pretrained(tmp_path / "half")
    saved = load_file(str(tmp_path / "half" / "model.safetensors"))
    for name, tensor in saved.items():
        assert tensor.dtype == torch.float32 and torch.equal(tensor, reference[name]), name
