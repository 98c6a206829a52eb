"""Every runtime and precision computes the same function (issue: one encoder seam).

Adversarial pairs: words that contain the mask / special tokens' text (a row then pools two
mask positions, summed as in the official package), multi-word and accented words, CJK, emoji,
and the longest prompt that fits ``max_length``. torch fp32 and ONNX Runtime fp32 agree to 2e-5
per component; reduced precisions stay within the cosine bounds the README documents. The
runtimes are compared on the relation vectors (``offset_weight=0``: the path every runtime
implements), and the shipped relation + offset vectors stay within the same bounds.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from relbert import RelBERT
from relbert.runtime.torch_runtime import TorchEncoder
from relbert.errors import PromptTooLongError


ADVERSARIAL = [
    ("[MASK]", "france"), ("paris", "[MASK]"), ("[mask]", "<mask>"), ("[CLS]", "[SEP]"), ("a [MASK] b", "c"),
    ("natural selection", "evolution"), ("crème brûlée", "café"), ("東京", "日本"), ("😀", "🎉 party"),
    ("rock'n'roll", "U.S."), ("paris", "france"), ("x", "y"),
]
#: Lowest per-row cosine to torch fp32 (README, "Speed"): bf16, int8 through ONNX Runtime and torch.
COSINE_BOUNDS = {("bf16", "torch"): 0.99, ("int8", "onnx"): 0.95, ("int8", "torch"): 0.90}


def longest_fitting_pair(model: RelBERT):
    """A pair whose prompt is exactly ``max_length`` tokens."""
    words = ["word"] * 64
    for k in range(len(words), 0, -1):
        pair = (" ".join(words[:k]), "end")
        try:
            if int(model.tokenizer.lengths([pair])[0]) == model.max_length:
                return pair
        except PromptTooLongError:
            continue
    raise AssertionError("no pair of exactly max_length tokens")


@pytest.fixture(scope="module")
def relation_model():
    """The embedded default's relation vectors alone (fp32, torch): the reference runtime."""
    return RelBERT.from_pretrained(device="cpu", precision="fp32", offset_weight=0)


@pytest.fixture(scope="module")
def pairs(relation_model):
    return ADVERSARIAL + [longest_fitting_pair(relation_model)]


@pytest.fixture(scope="module")
def fp32(relation_model, pairs):
    return relation_model.embed(pairs, normalize=False)


def test_torch_fp32_is_the_papers_pooling(relation_model, pairs, fp32):
    """The reference itself: the untouched encoder on each prompt alone, summed by hand (two
    mask positions for a word that contains the mask token's text)."""
    hand = np.stack([hand_pooled_all_masks(relation_model, p) for p in pairs])
    np.testing.assert_allclose(fp32, hand, atol=2e-4, rtol=1e-4)
    assert (relation_model.tokenizer.encode(pairs[:1])["pool_mask"].sum(1) == 2).all()


def hand_pooled_all_masks(model, pair):
    from relbert.templates import fill_template

    hf = model.hf_tokenizer
    enc = hf(fill_template(model.template, pair[0], pair[1], hf.mask_token), return_tensors="pt")
    with torch.no_grad():
        hidden = TorchEncoder(model.encoder, None, mode="full").encoder(**enc).last_hidden_state[0].double()
    at = enc["input_ids"][0] == hf.mask_token_id
    return hidden[at].sum(0).numpy()


def test_onnx_fp32_equals_torch_fp32(pairs, fp32):
    onnx = RelBERT.from_pretrained(runtime="onnx", device="cpu", offset_weight=0)
    assert onnx.mask_shortcut is not None  # single-mask rows take the shortcut graph, the others the full one
    got = onnx.embed(pairs, normalize=False)
    assert np.abs(got - fp32).max() <= 2e-5


@pytest.mark.parametrize("precision, backend", sorted(COSINE_BOUNDS))
def test_reduced_precisions_stay_within_their_bounds(pairs, fp32, precision, backend):
    model = RelBERT.from_pretrained(precision=precision, runtime=backend, device="cpu", offset_weight=0)
    got = model.embed(pairs)
    unit = fp32 / np.linalg.norm(fp32, axis=1, keepdims=True)
    cosine = (got * unit).sum(1)
    assert cosine.min() >= COSINE_BOUNDS[(precision, backend)], dict(zip(map(str, pairs), cosine.round(4)))
    # the shipped relation + offset vectors (the words through the same runtime) within the same bound
    combined = RelBERT.from_pretrained(precision=precision, runtime=backend, device="cpu").embed(pairs)
    reference = RelBERT.from_pretrained(precision="fp32", device="cpu").embed(pairs)
    cosine = (combined * reference).sum(1)
    assert cosine.min() >= COSINE_BOUNDS[(precision, backend)], dict(zip(map(str, pairs), cosine.round(4)))


def test_mask_text_rows_in_a_batch_do_not_change_the_others(relation_model, pairs, fp32):
    """A batch mixing one- and two-mask rows: each row equals its vector embedded alone, on
    both runtimes (the shortcut never takes the first mask for the sum)."""
    onnx = RelBERT.from_pretrained(runtime="onnx", device="cpu", offset_weight=0)
    for model in (relation_model, onnx):
        alone = np.stack([model.embed([p], normalize=False)[0] for p in pairs])
        np.testing.assert_allclose(model.embed(pairs, normalize=False), alone, atol=2e-5)
