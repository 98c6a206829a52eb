"""Id parity on every pair of ../shared/data (the fixture files where it is absent) (analogy + lexical relation, both orders), templates
a-e, three tokenizers, both backends: unpadded ids equal the HF fast tokenizer's on the full prompt."""
from __future__ import annotations

import pytest

from relbert.templates import TEMPLATES, fill_template
from relbert.tokenization import PairTokenizer

from conftest import all_data_pairs
from tokenizer_fixtures import build_bpe, build_cased_wordpiece


@pytest.fixture(scope="module")
def every_pair(eval_data):
    return all_data_pairs(eval_data)


@pytest.fixture(scope="module", params=["minilm", "bpe", "cased_wordpiece"])
def tokenizer_path(request, tmp_path_factory, minilm_path):
    if request.param == "minilm":
        return minilm_path
    folder = tmp_path_factory.mktemp(request.param)
    return str(build_bpe(folder) if request.param == "bpe" else build_cased_wordpiece(folder))


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_every_data_pair_both_backends(tokenizer_path, template, every_pair):
    cpp = PairTokenizer.from_pretrained(tokenizer_path, template=template, max_length=512)
    python = PairTokenizer.from_pretrained(tokenizer_path, template=template, max_length=512, implementation="python")
    hf = python.hf_tokenizer
    reference = hf([fill_template(template, h, t, hf.mask_token) for h, t in every_pair])["input_ids"]
    backends = [python] + ([cpp] if cpp.implementation == "cpp" else [])
    for tok in backends:
        batch = tok.encode(every_pair)
        got = [row[:n].tolist() for row, n in zip(batch["input_ids"], batch["lengths"])]
        bad = [(p, g, r) for p, g, r in zip(every_pair, got, reference) if g != r]
        assert not bad, f"{tok.implementation}: {len(bad)} of {len(every_pair)} differ, first {bad[:2]}"
    from conftest import FULL_DATA

    assert len(every_pair) > (100_000 if FULL_DATA else 300)
