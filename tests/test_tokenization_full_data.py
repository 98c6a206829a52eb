"""Id parity on the pairs of ../shared/data (the fixture files where it is absent) (analogy + lexical relation, both orders), templates
a-e, three tokenizers, both backends: unpadded ids equal the HF fast tokenizer's on the full prompt.

Every pair goes through each tokenizer with one template (a different one per tokenizer); the
other templates, which change only the fixed text around the words, take every pair with a
character outside a-z plus every 8th other pair (about 30,000 of 192,000), which keeps the suite's
time in bounds (the full cross product took 7 minutes of CI)."""
from __future__ import annotations

import re

import pytest

from relbert.templates import TEMPLATES, fill_template
from relbert.tokenization import PairTokenizer

from conftest import all_data_pairs
from helpers.tokenizer_fixtures import build_bpe, build_cased_wordpiece


@pytest.fixture(scope="module")
def every_pair(eval_data):
    return all_data_pairs(eval_data)


#: The template each tokenizer is checked with on every pair.
EVERY_PAIR_TEMPLATE = {"minilm": "a", "bpe": "d", "cased_wordpiece": "e"}


def sampled(pairs):
    """Every pair with a character outside a-z (the risky ones) and every 8th other pair."""
    plain = re.compile("[a-z]+")
    return [p for i, p in enumerate(pairs) if i % 8 == 0 or not (plain.fullmatch(p[0]) and plain.fullmatch(p[1]))]


@pytest.fixture(scope="module", params=list(EVERY_PAIR_TEMPLATE))
def tokenizer_path(request, tmp_path_factory, minilm_path):
    if request.param == "minilm":
        return request.param, minilm_path
    folder = tmp_path_factory.mktemp(request.param)
    return request.param, str(build_bpe(folder) if request.param == "bpe" else build_cased_wordpiece(folder))


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_every_data_pair_both_backends(tokenizer_path, template, every_pair):
    name, tokenizer_path = tokenizer_path
    full = EVERY_PAIR_TEMPLATE[name] == template
    pairs = every_pair if full else sampled(every_pair)
    cpp = PairTokenizer.from_pretrained(tokenizer_path, template=template, max_length=512)
    python = PairTokenizer.from_pretrained(tokenizer_path, template=template, max_length=512, implementation="python")
    hf = python.hf_tokenizer
    reference = hf([fill_template(template, h, t, hf.mask_token) for h, t in pairs])["input_ids"]
    backends = [python] + ([cpp] if cpp.implementation == "cpp" else [])
    for tok in backends:
        batch = tok.encode(pairs)
        got = [row[:n].tolist() for row, n in zip(batch["input_ids"], batch["lengths"])]
        bad = [(p, g, r) for p, g, r in zip(pairs, got, reference) if g != r]
        assert not bad, f"{tok.implementation}: {len(bad)} of {len(pairs)} differ, first {bad[:2]}"
    from conftest import FULL_DATA

    assert len(every_pair) > (100_000 if FULL_DATA else 300)
    assert full or len(pairs) > len(every_pair) // 8
