"""Training throughput: the fast step beside today's recipe and the official trainer's approach.

Every side trains the same first relations of one SemEval epoch (InfoNCE, 10 positives,
template d, mask pooling) from the same weights, and the figures are seconds per epoch
(measured seconds per relation x the 89 relations of an epoch) and prompts encoded with
gradients per relation, side by side in one run, for the MiniLM shape (the packaged base) and
the MPNet shape (relbert-mpnet's base; skipped unless ``relbert-download relbert-mpnet`` ran):

- ``official``: the official trainer's approach (every prompt tokenized alone and padded to 64
  tokens, batches of 64 with gradients, one AdamW step per relation); MiniLM only;
- ``today``: this trainer's earlier recipe (400 negatives, chunks of 128 prompts: gradient
  caching), fp32;
- ``today_bf16``: the same under bf16 autocast (where the CPU has native bf16);
- ``fast``: the cheapest step: 100 negatives (the authors' ablation found 25-500 alike), one
  pass per step within the memory budget (no gradient caching), the lower half of the layers
  frozen and computed once per prompt, shared encodings over 2 relations a step, precision auto;
- ``fast_full``: the recipe the relbert-mpnet seed selection ran (docs/training.md): the same
  without frozen layers or sharing (every layer trains; 89 optimiser steps an epoch);
- ``default`` and ``paper``: what ``relbert-train`` runs at its defaults (``--recipe fast``) and
  with ``--recipe paper`` (``relbert.training.config.RECIPES``), each at its own settings; the
  default's row gives its ratio to the paper's.

    pytest bench/bench_train.py --benchmark-only -p no:cacheprovider
"""
from __future__ import annotations

import os
import random
import time

import pytest
import torch

from relbert.data.semeval import load_semeval
from relbert.training.losses import info_nce
from relbert.runtime.precision import native_bf16_flag
from relbert.templates import fill_template
from relbert.training import TrainConfig, Trainer

from conftest import DATA

#: Relations per measured (partial) epoch, for every side (RELBERT_BENCH_RELATIONS to shorten a run).
RELATIONS = int(os.environ.get("RELBERT_BENCH_RELATIONS", "8"))
COMMON = dict(template="d", aggregation="mask", lr=2e-5, epochs=1, validation=[])
RECIPES = {
    "today": dict(num_negative=400, chunk_size=128, precision="fp32"),
    "today_bf16": dict(num_negative=400, chunk_size=128, precision="bf16"),
    "fast": dict(num_negative=100, precision="auto", freeze_layers=-2, share_encodings=True, gradient_accumulation=2),
    "fast_full": dict(num_negative=100, precision="auto"),
}
ROWS: list = []
_SECONDS: dict = {}


def _base(shape):
    if shape == "minilm":
        return None
    from relbert.models.named import base_folder, is_fetched

    if not is_fetched("relbert-mpnet"):
        pytest.skip("the relbert-mpnet base is not fetched (relbert-download relbert-mpnet)")
    return str(base_folder("relbert-mpnet"))


@pytest.fixture(scope="module")
def semeval():
    if not DATA.is_dir():
        pytest.skip("shared data not found")
    return load_semeval(DATA / "semeval2012_task2")[0]


#: Sides that are relbert-train's own recipes (the CLI's --recipe), at their own settings.
CLI_RECIPES = {"default": "fast", "paper": "paper"}


def recipe(name, model, layers):
    if name in CLI_RECIPES:
        from relbert.training.config import resolve_recipe

        return TrainConfig(model=model, validation=[], **resolve_recipe(CLI_RECIPES[name], {"epochs": 1}))
    options = dict(RECIPES[name])
    if options.get("freeze_layers", 0) < 0:  # "half": the lower half of this encoder's layers
        options["freeze_layers"] = layers // 2
    return TrainConfig(model=model, **COMMON, **options)


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
    """The trainer's own loop over these items (its step grouping, sharing and chunking)."""
    trainer.encoder.train()
    group = trainer.config.gradient_accumulation
    for start in range(0, len(items), group):
        step = items[start : start + group]
        if trainer.config.share_encodings and len(step) > 1:
            trainer.encoding.backward_shared(step, trainer.objective.item_loss, seed=start)
        else:
            for index, (pairs, n) in enumerate(step, start=start):
                trainer.encoding.backward(pairs, trainer.objective.loss_fn(n), seed=index)
        trainer._step()


@pytest.mark.parametrize("shape", ["minilm", "mpnet"])
@pytest.mark.parametrize("side", ["official", "today", "today_bf16", "fast", "fast_full", "paper", "default",
                                  "default_combined"])
def test_train_epoch(benchmark, semeval, shape, side, tmp_path):
    if side == "official" and shape != "minilm":
        pytest.skip("the official approach is measured on MiniLM only (minutes a relation on MPNet)")
    if side == "today_bf16" and native_bf16_flag() is None and not torch.cuda.is_available():
        pytest.skip("no native bf16 on this CPU: emulated bf16 is slower than fp32")
    model = _base(shape)
    started = time.perf_counter()
    probe = Trainer(recipe("today", model, 12), semeval, tmp_path / "probe", show_progress=False)
    layers = probe.encoder.config.num_hidden_layers
    del probe
    if side == "default_combined":  # the default recipe on the relation + offset vector (λ 0.3, both halves)
        import dataclasses

        config = dataclasses.replace(recipe("default", model, layers), offset_weight=0.3)
    else:
        config = recipe("today" if side == "official" else side, model, layers)
    started = time.perf_counter()
    trainer = Trainer(config, semeval, tmp_path / side, show_progress=False)
    setup = time.perf_counter() - started  # includes the frozen layers' one pass over the training prompts
    random.seed(0)
    items = trainer.objective.contrastive_items(trainer.rng)[:RELATIONS]  # seed 0: the same relations and samples for every side of a shape
    run = official_epoch if side == "official" else our_epoch
    benchmark.pedantic(run, args=(trainer, items), rounds=1, iterations=1, warmup_rounds=0)
    per_relation = benchmark.stats.stats.min / RELATIONS
    epoch = per_relation * trainer.objective.steps_per_epoch() * config.gradient_accumulation
    _SECONDS[(shape, side)] = epoch
    encoded = trainer.encoding.encoded / RELATIONS if side != "official" else float("nan")
    benchmark.extra_info.update(seconds_per_epoch=round(epoch, 1), prompts_encoded_per_relation=encoded,
                                precision=trainer.precision, setup_s=round(setup, 1))
    against = {"default": "paper", "default_combined": "default"}.get(side, "today")
    reference = _SECONDS.get((shape, against))
    row = {"figure": f"{shape} {side} ({trainer.precision}, {encoded:.0f} prompts/rel)", "value": epoch,
           "unit": "s/epoch"}
    if reference is not None and side not in ("today", "paper") or side == "default_combined" and reference:
        row.update(ratio=reference / epoch, reference=f"faster than {shape} {against}"
                   + {"today": " (fp32)", "paper": " (relbert-train --recipe paper)",
                      "default": " (the relation-only loss: the combined loss's cost)"}[against])
    else:
        row["note"] = f"setup {setup:.1f} s"
    ROWS.append(row)
