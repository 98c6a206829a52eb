"""Relation + offset vectors (relbert.offsets) against a numpy hand computation from the encoder's
hidden states: both parts, the weight, one word twice, λ = 0 unchanged, save/load."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from relbert import RelBERT
from relbert.offsets import WordSpans, combine, combined_cosines, gather_spans

from helpers.pooling_reference import hand_pooled

PAIRS = [("paris", "france"), ("tokyo", "japan"), ("dog", "bark"), ("washing machine", "laundry"),
         ("dog", "dog"), ("france", "paris")]


def hand_word(model, word):
    """The diff baseline's word vector by hand: the word alone with special tokens, the mean of
    the hidden states of its own tokens."""
    enc = model.hf_tokenizer(word, return_tensors="pt", return_special_tokens_mask=True)
    keep = enc.pop("special_tokens_mask")[0] == 0
    with torch.no_grad():
        hidden = model.encoder(**enc).last_hidden_state[0].double()
    return hidden[keep].mean(0).numpy()


def hand_vector(model, pair, weight):
    r = hand_pooled(model, pair, model.aggregation)
    o = hand_word(model, pair[1]) - hand_word(model, pair[0])
    unit = lambda v: v / np.linalg.norm(v) if np.linalg.norm(v) > 0 else v * 0  # noqa: E731
    if not np.linalg.norm(o) > 0:  # one word twice: the unit relation part alone
        return np.concatenate([unit(r), o * 0])
    return np.concatenate([unit(r), np.sqrt(weight) * unit(o)]) / np.sqrt(1 + weight)


@pytest.fixture(scope="module")
def weighted(minilm_path):
    return RelBERT.from_pretrained(minilm_path, device="cpu", precision="fp32", offset_weight=0.3)


def test_vector_is_the_hand_computation(weighted):
    got = weighted.embed(PAIRS)
    assert got.shape == (len(PAIRS), 2 * weighted.hidden_size) == (len(PAIRS), weighted.dimension)
    for row, pair in zip(got, PAIRS):
        np.testing.assert_allclose(row, hand_vector(weighted, pair, 0.3), atol=2e-5)


def test_cosine_is_the_weighted_mean_of_the_two_cosines(weighted, minilm_path):
    relation = RelBERT.from_pretrained(minilm_path, device="cpu", precision="fp32").embed(PAIRS[:4])
    words = {w: hand_word(weighted, w) for p in PAIRS[:4] for w in p}
    offsets = np.stack([words[t] - words[h] for h, t in PAIRS[:4]])
    offsets /= np.linalg.norm(offsets, axis=1, keepdims=True)
    got = weighted.embed(PAIRS[:4])
    expected = combined_cosines(relation @ relation.T, offsets @ offsets.T, 0.3)
    np.testing.assert_allclose(got @ got.T, expected, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_one_word_twice_has_a_zero_offset_part(weighted):
    row = weighted.embed([("dog", "dog")])[0]
    assert np.isfinite(row).all()
    h = weighted.hidden_size
    assert not row[h:].any()
    np.testing.assert_allclose(np.linalg.norm(row), 1.0, atol=1e-6)  # unit-norm, as every row


def test_unnormalized_is_the_raw_relation_beside_the_weighted_unit_offset(weighted, minilm_path):
    raw = weighted.embed(PAIRS[:3], normalize=False)
    plain = RelBERT.from_pretrained(minilm_path, device="cpu", precision="fp32").embed(PAIRS[:3], normalize=False)
    h = weighted.hidden_size
    np.testing.assert_array_equal(raw[:, :h], plain)
    np.testing.assert_allclose(np.linalg.norm(raw[:, h:], axis=1), np.sqrt(0.3), atol=1e-6)


def test_zero_weight_is_todays_vector_bit_for_bit(minilm_path):
    model = RelBERT.from_pretrained(minilm_path, device="cpu", precision="fp32", offset_weight=0)
    assert model.dimension == model.hidden_size
    ids, offsets = model.tokenizer.encode_flat(PAIRS)
    from relbert.runtime.embed_loop import embed_rows

    relation = embed_rows(model.runtime, ids, offsets, model.tokenizer.pad_rows, width=model.hidden_size,
                          device=model.device, batch_size=64, normalize=True)  # the relation loop alone
    np.testing.assert_array_equal(model.embed(PAIRS), relation)
    np.testing.assert_array_equal(combine(relation, relation, 0.0), relation)


def test_each_distinct_word_is_encoded_once(weighted, monkeypatch):
    from relbert.runtime import pair_vectors

    seen = []
    real = pair_vectors.word_vectors

    def spy(model, words, **kwargs):
        seen.append(words.count)
        return real(model, words, **kwargs)

    monkeypatch.setattr(pair_vectors, "word_vectors", spy)
    weighted.embed(PAIRS * 3)
    assert seen == [len({w for p in PAIRS for w in p})]


def test_spans_from_token_ids_dedupe_words(weighted):
    tok = weighted.tokenizer
    words = [w for p in PAIRS for w in p]
    ids, offsets, pooled = tok.encode_words(words)
    spans = WordSpans.of_token_spans(ids, offsets, pooled)
    assert spans.count == len(set(words))
    direct = WordSpans.of_pairs(PAIRS, tok)
    from relbert.runtime.pair_vectors import word_vectors

    a = word_vectors(weighted, spans)
    b = word_vectors(weighted, direct)
    np.testing.assert_allclose(a[spans.tail] - a[spans.head], b[direct.tail] - b[direct.head], atol=1e-6)


@pytest.mark.parametrize("rows", [[], [0], [2, 0, 2], [1, 3, 4]])
def test_gathered_spans_are_the_slices_concatenated(rows):
    """Spans picked from a packed array (empty ones included, repeats allowed): the same values and
    offsets as slicing each span and concatenating them."""
    packed = np.arange(100, 112, dtype=np.int32)
    bounds = np.array([0, 3, 3, 7, 8, 12], np.int64)  # span 1 is empty
    rows = np.asarray(rows, np.int64)
    offsets, take = gather_spans(bounds, rows)
    pieces = [packed[bounds[k]:bounds[k + 1]] for k in rows]
    np.testing.assert_array_equal(packed[take], np.concatenate(pieces) if pieces else np.zeros(0, np.int32))
    np.testing.assert_array_equal(offsets, np.cumsum([0] + [len(p) for p in pieces]))


def test_save_and_load_keep_the_weight(weighted, tmp_path):
    weighted.save_pretrained(tmp_path / "m")
    import json

    stored = json.loads((tmp_path / "m" / "config.json").read_text())["relbert_config"]
    assert stored["offset_weight"] == 0.3
    again = RelBERT.from_pretrained(str(tmp_path / "m"), device="cpu", precision="fp32")
    assert again.offset_weight == 0.3 and again.dimension == 2 * again.hidden_size
    np.testing.assert_allclose(again.embed(PAIRS), weighted.embed(PAIRS), atol=1e-6)
    override = RelBERT.from_pretrained(str(tmp_path / "m"), device="cpu", precision="fp32", offset_weight=0)
    assert override.dimension == override.hidden_size


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "x"])
def test_bad_weight_is_refused(minilm_path, bad):
    with pytest.raises(ValueError, match="offset_weight"):
        RelBERT.from_pretrained(minilm_path, device="cpu", offset_weight=bad)


def test_the_choice_rule_on_a_made_up_grid():
    from relbert.evaluation.offset_choice import best_offset_weight

    def row(weight, a, b):
        return {"offset_weight": weight, "datasets": {"a": a, "b": b}, "mean": (a + b) / 2}

    rows = [row(0.0, 50, 40), row(0.3, 56, 40), row(1.0, 64, 38.5), row(2.0, 54, 42)]
    assert best_offset_weight(rows) == 0.3  # 1.0 has the best mean but costs b 1.5 points
    assert best_offset_weight(rows, max_drop=None) == 1.0
    tied = [row(0.0, 50, 40), row(0.3, 50, 40), row(1.0, 50, 40)]
    assert best_offset_weight(tied) == 0.0 and best_offset_weight(tied, prefer=0.3) == 0.3
    assert best_offset_weight(tied, prefer=0.7) == 0.0  # not on the grid: the smaller weight
