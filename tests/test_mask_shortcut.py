"""The ``mask`` pooling shortcut (last layer evaluated at the mask token only) gives the vectors
of the full forward: checked against the HF model run on each prompt alone (no padding)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from relbert import RelBERT
from relbert.templates import fill_template

from tiny_model import build_tiny_bert
from tokenizer_fixtures import build_bpe

PAIRS = [("paris", "france"), ("dog", "bark"), ("natural selection", "evolution"),
         ("a long head phrase", "x"), ("café", "crème brûlée")]


def full_forward_at_mask(model: RelBERT, pair) -> np.ndarray:
    """Reference: the untouched HF encoder on one prompt, last hidden state at the mask token."""
    hf = model.hf_tokenizer
    enc = hf(fill_template(model.template, pair[0], pair[1], hf.mask_token), return_tensors="pt")
    with torch.no_grad():
        hidden = model.model(**enc).last_hidden_state[0].double()
    vector = hidden[enc["input_ids"][0].tolist().index(hf.mask_token_id)].numpy()
    return vector / np.linalg.norm(vector)


def build_tiny_roberta(folder):
    from transformers import AutoTokenizer, RobertaConfig, RobertaModel

    build_bpe(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    config = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=130, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    RobertaModel(config).save_pretrained(folder)
    return folder


def build_tiny_distilbert(folder):
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    from relbert.model import default_model_path

    tok = AutoTokenizer.from_pretrained(default_model_path())
    config = DistilBertConfig(vocab_size=tok.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    torch.manual_seed(0)
    DistilBertModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


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
    layers = list(model.model.encoder.layer)
    pooler = model.model.pooler
    keys = list(model.model.state_dict())
    model.embed(PAIRS)
    assert list(model.model.encoder.layer) == layers and model.model.pooler is pooler
    assert list(model.model.state_dict()) == keys
    with pytest.raises(IndexError):  # restored even when the forward fails
        model.mask_shortcut.hidden_at(torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.long),
                                      torch.tensor([7]))  # position out of range
    assert list(model.model.encoder.layer) == layers and model.model.pooler is pooler


@pytest.mark.parametrize("precision, min_cosine", [("bf16", 0.999), ("int8", 0.98)])
def test_reduced_precision_shortcut_close_to_its_full_forward(default_model, precision, min_cosine):
    """bf16 / int8 take the shortcut too; vectors stay within rounding (bf16) or activation
    quantization noise (int8: the query's scale comes from the mask row alone) of the full forward."""
    model = RelBERT.from_pretrained(device="cpu", precision=precision)
    assert model.mask_shortcut is not None
    fast = model.embed(PAIRS)
    model.mask_shortcut = None
    full = model.embed(PAIRS)
    assert float((fast * full).sum(1).min()) >= min_cosine
