"""Fused template tokenization, 100,000 pairs, side by side in one run:
the HF fast tokenizer on the full prompt strings (batch call, parallelism on and off), the
Python fallback and the C++ path (both with a cold word cache every round).

    pytest bench/bench_tokenize.py --benchmark-only
"""
from __future__ import annotations

import os

import pytest

from relbert import PairTokenizer
from relbert.templates import fill_template

from conftest import report

N = 100_000


@pytest.fixture(scope="module")
def pairs_100k():
    from conftest import DATA, real_pairs

    pairs = real_pairs(N)
    if len(pairs) < N:  # top up with the lexical-relation pairs (both orders)
        seen = dict.fromkeys(pairs)
        for path in sorted((DATA / "lexical_relation").glob("*/*.tsv")):
            for line in path.read_text(encoding="utf-8").splitlines():
                h, t, _ = line.split("\t")
                for p in ((h, t), (t, h)):
                    seen.setdefault(p, None)
        pairs = list(seen)[:N]
    assert len(pairs) == N
    return pairs


@pytest.fixture(scope="module")
def hf(minilm):
    return minilm.hf_tokenizer


@pytest.mark.parametrize("parallel", ["true", "false"])
def test_hf_fast_tokenizer(benchmark, hf, pairs_100k, parallel, results):
    os.environ["TOKENIZERS_PARALLELISM"] = parallel
    prompts = [fill_template("a", h, t, hf.mask_token) for h, t in pairs_100k]

    def run():
        return hf(prompts, padding=True, return_tensors="np")

    benchmark.pedantic(run, rounds=3, iterations=1)
    report(benchmark, N, f"hf_fast_parallel_{parallel}", results)


@pytest.mark.parametrize("backend", ["python", "cpp"])
def test_pair_tokenizer(benchmark, hf, pairs_100k, backend, results):
    def fresh():  # a new tokenizer each round: the word cache starts cold
        return (PairTokenizer(hf, "a", "average_no_mask", implementation=backend),), {}

    benchmark.pedantic(lambda tok: tok.encode(pairs_100k), setup=fresh, rounds=3, iterations=1)
    report(benchmark, N, f"pair_tokenizer_{backend}", results)
