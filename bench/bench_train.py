"""Training throughput: our trainer against the official trainer's approach, side by side.

Both run the same InfoNCE steps (10 positives, 100 negatives per relation, MiniLM, template d,
mask pooling) over the first relations of a SemEval epoch. The official approach re-created:
every prompt tokenized on its own and padded to 64 tokens, embedded in batches of 64 with
gradients, the official loss_nce, one AdamW step per relation.

    pytest bench/bench_train.py --benchmark-only
"""
from __future__ import annotations

import random

import pytest
import torch

from relbert.data.semeval import load_semeval
from relbert.losses import info_nce
from relbert.templates import fill_template
from relbert.training import TrainConfig, Trainer

from conftest import DATA, report

RELATIONS = 12  # relations per measured (partial) epoch, for both sides


@pytest.fixture(scope="module")
def semeval():
    if not DATA.is_dir():
        pytest.skip("shared data not found")
    return load_semeval(DATA / "semeval2012_task2")[0]


def config():
    return TrainConfig(template="d", aggregation="mask", num_negative=100, lr=5e-5, epochs=1, validation=[])


def official_epoch(trainer: Trainer, items, device="cpu"):
    model, tok = trainer.encoder, trainer.relbert.hf_tokenizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0)
    model.train()
    for pairs, n in items:
        enc = [dict(tok(fill_template(trainer.relbert.template, h, t, tok.mask_token), max_length=64,
                        truncation=True, padding="max_length")) for h, t in pairs]
        vectors = []
        for start in range(0, len(enc), 64):
            chunk = enc[start : start + 64]
            ids = torch.tensor([e["input_ids"] for e in chunk]).to(device)
            att = torch.tensor([e["attention_mask"] for e in chunk], dtype=torch.float32).to(device)
            labels = (ids == tok.mask_token_id).float()
            hidden = model(input_ids=ids, attention_mask=att).last_hidden_state
            vectors.append((hidden * labels.unsqueeze(-1)).sum(1))
        vectors = torch.cat(vectors)
        optimizer.zero_grad()
        info_nce(vectors[:n], vectors[n:], temperature=0.05).backward()
        optimizer.step()


def our_epoch(trainer: Trainer, items):
    trainer.encoder.train()
    for index, (pairs, n) in enumerate(items):
        trainer._backward(pairs, trainer._loss_fn(n), seed=index)
        trainer._step()


@pytest.mark.parametrize("side", ["official_train_approach", "relbert_train"])
def test_train_epoch(benchmark, semeval, side, results, tmp_path):
    trainer = Trainer(config(), semeval, tmp_path, show_progress=False)
    random.seed(0)
    items = trainer._nce_items()[:RELATIONS]
    run = official_epoch if side.startswith("official") else our_epoch
    benchmark.pedantic(run, args=(trainer, items), rounds=2, iterations=1, warmup_rounds=0)
    report(benchmark, RELATIONS, side, results)
