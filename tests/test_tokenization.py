"""PairTokenizer: ids identical to the HF fast tokenizer on the full prompt string."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from relbert.templates import TEMPLATES, fill_template
from relbert.tokenization import PairTokenizer, PromptTooLongError

from conftest import analogy_pairs
from tokenizer_fixtures import ADVERSARIAL_WORDS, build_bpe, build_cased_wordpiece


@pytest.fixture(scope="module", params=["minilm", "bpe", "bpe_prefix", "cased_wordpiece"])
def tokenizer_path(request, tmp_path_factory, minilm_path):
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "minilm":
        return minilm_path
    if request.param == "bpe":
        return str(build_bpe(folder))
    if request.param == "bpe_prefix":
        return str(build_bpe(folder, add_prefix_space=True))
    return str(build_cased_wordpiece(folder))


def reference_ids(hf, template, pairs):
    prompts = [fill_template(template, h, t, hf.mask_token) for h, t in pairs]
    return hf(prompts)["input_ids"]


def adversarial_pairs():
    words = ADVERSARIAL_WORDS + ["dog", "cat"]
    return [(h, t) for h, t in itertools.product(words, words) if h.strip() and t.strip()]


@pytest.mark.parametrize("template", list(TEMPLATES) + ["<subj>:<obj> (<mask>)", "<mask> <obj> <subj>"])
def test_ids_equal_hf_on_data_and_adversarial_words(tokenizer_path, template, data_dir):
    tok = PairTokenizer.from_pretrained(tokenizer_path, template=template, max_length=4096)
    pairs = analogy_pairs(data_dir, limit=1500)
    pairs = pairs + [(t, h) for h, t in pairs] + adversarial_pairs()
    got = tok.token_ids(pairs)
    ref = reference_ids(tok.hf_tokenizer, template, pairs)
    bad = [(p, g, r) for p, g, r in zip(pairs, got, ref) if g != r]
    assert not bad, f"{len(bad)} mismatches, first: {bad[:3]}"


def test_encode_arrays_padding_and_pool_masks(minilm_path):
    pairs = [("dog", "cat"), ("natural selection", "evolution"), ("a", "b")]
    for aggregation in ("mask", "average", "average_no_mask"):
        tok = PairTokenizer.from_pretrained(minilm_path, template="a", aggregation=aggregation)
        hf = tok.hf_tokenizer
        enc = tok.encode(pairs)
        ref = reference_ids(hf, "a", pairs)
        longest = max(map(len, ref))
        assert enc["input_ids"].shape == (3, longest)
        for i, ids in enumerate(ref):
            n = len(ids)
            assert enc["input_ids"][i, :n].tolist() == ids
            assert (enc["input_ids"][i, n:] == hf.pad_token_id).all()
            assert enc["attention_mask"][i].tolist() == [1] * n + [0] * (longest - n)
            mask_pos = ids.index(hf.mask_token_id)
            expected = np.zeros(longest, dtype=np.int64)
            if aggregation == "mask":
                expected[mask_pos] = 1
            else:
                expected[:n] = 1
                if aggregation == "average_no_mask":
                    expected[mask_pos] = 0
            assert enc["pool_mask"][i].tolist() == expected.tolist()
        assert all(a.dtype == np.int64 for a in enc.values())


def test_too_long_prompt_is_an_error_naming_the_pair(minilm_path):
    tok = PairTokenizer.from_pretrained(minilm_path, template="a", max_length=24)
    with pytest.raises(PromptTooLongError, match="supercalifragilistic"):
        tok.encode([("dog", "cat"), ("supercalifragilisticexpialidocious " * 3, "cat")])
    assert tok.encode([("dog", "cat")])["input_ids"].shape[1] <= 24


@pytest.mark.parametrize("bad", [("", "cat"), ("dog", "  "), ("dog",), "dogcat", ("dog", 3)])
def test_bad_pairs_are_clear_errors(minilm_path, bad):
    tok = PairTokenizer.from_pretrained(minilm_path)
    with pytest.raises(ValueError, match="pair"):
        tok.encode([bad])


def test_unknown_template_and_aggregation(minilm_path):
    with pytest.raises(ValueError, match="lacks"):
        PairTokenizer.from_pretrained(minilm_path, template="<subj> and <obj>")
    with pytest.raises(ValueError, match="aggregation"):
        PairTokenizer.from_pretrained(minilm_path, aggregation="cls")
