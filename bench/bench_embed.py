"""RelBERT.embed against the official package's approach, side by side in one run.

The official approach (relbert 2.0.2 ``get_embedding``) re-created faithfully: each prompt
tokenized on its own with the tokenizer call (``encode_plus``) and padded to 64 tokens, a list-of-lists round trip,
``torch.no_grad``, the masked sum over the padded batch.

    pytest bench/bench_embed.py --benchmark-only
"""
from __future__ import annotations

import torch

from relbert.templates import fill_template

from conftest import report


def official_approach(model, pairs, batch_size=64, max_length=64):
    tok = model.hf_tokenizer
    encoded = []
    for head, tail in pairs:
        enc = tok(fill_template(model.template, head, tail, tok.mask_token),
                              max_length=max_length, truncation=True, padding="max_length")
        ids = enc["input_ids"]
        enc["labels"] = [0 if x in (tok.pad_token_id, tok.mask_token_id) else 1 for x in ids]
        encoded.append(dict(enc))
    vectors = []
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            batch = {k: torch.tensor([e[k] for e in chunk]) for k in chunk[0].keys()}
            labels = batch.pop("labels").float()
            hidden = model.model(**batch).last_hidden_state
            vectors += (hidden * labels.unsqueeze(-1)).sum(1).cpu().tolist()
    return vectors


def test_official_approach(benchmark, minilm, pairs_2k, results):
    benchmark.pedantic(official_approach, args=(minilm, pairs_2k), rounds=2, iterations=1, warmup_rounds=0)
    report(benchmark, len(pairs_2k), "official_approach", results)


def test_relbert_embed(benchmark, minilm, pairs_2k, results):
    benchmark.pedantic(minilm.embed, args=(pairs_2k,), rounds=3, iterations=1, warmup_rounds=1)
    report(benchmark, len(pairs_2k), "relbert_embed_fp32", results)
