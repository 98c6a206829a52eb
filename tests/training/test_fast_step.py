"""The fast training step: sampling without a model, shared encodings, frozen lower layers,
memory-budget chunks, precision auto, seeds as a choice, and the base-encoder start."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from relbert.data.relsim import Relation
from relbert.training import TrainConfig, Trainer, build_pools, nce_items, shared_prompts, train_seeds
from helpers.tiny_model import build_tiny_bert, build_tiny_mpnet

RELATIONS = [
    Relation("geo/capital", [("paris", "france"), ("tokyo", "japan"), ("rome", "italy")], [("france", "paris")]),
    Relation("geo/language", [("france", "french"), ("japan", "japanese"), ("italy", "italian")], [("french", "france")]),
    Relation("animal/sound", [("dog", "bark"), ("cat", "meow"), ("cow", "moo")], [("bark", "dog")]),
    Relation("animal/young", [("dog", "puppy"), ("cat", "kitten"), ("cow", "calf")], [("puppy", "dog")]),
]


def config(model, **kw):
    base = dict(model=model, template="a", num_positive=3, num_negative=6, epochs=2, lr=1e-3, warmup=2, seed=3,
                validation=[], precision="fp32")
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def tiny4(tmp_path_factory):
    """A tiny BERT with 4 layers (so that 2 can be frozen)."""
    return str(build_tiny_bert(tmp_path_factory.mktemp("tiny4"), layers=4))


# --- sampling: no model -----------------------------------------------------------------------
def test_pools_follow_the_official_negatives_and_parents():
    pools = build_pools(RELATIONS, "nce")
    # own negatives first, then every other relation's positives
    assert pools.negatives["geo/capital"][:1] == [("france", "paris")]
    assert set(pools.negatives["geo/capital"][1:]) == {p for r in RELATIONS[1:] for p in r.positives}
    # the parent "geo" is one more relation: its children's positives against the other parent's
    assert set(pools.positives["geo"]) == set(RELATIONS[0].positives) | set(RELATIONS[1].positives)
    assert set(pools.negatives["geo"]) == set(RELATIONS[2].positives) | set(RELATIONS[3].positives)
    assert pools.parents == {"animal": ["animal/sound", "animal/young"], "geo": ["geo/capital", "geo/language"]}


def test_nce_items_are_seeded_and_sized():
    pools = build_pools(RELATIONS, "nce")
    a = nce_items(pools, random.Random(5), num_positive=2, num_negative=4)
    b = nce_items(pools, random.Random(5), num_positive=2, num_negative=4)
    assert a == b and len(a) == 6  # 4 relations + 2 parents
    for pairs, n in a:
        assert n == 2 and len(pairs) == 6
        assert len(set(pairs)) == len(pairs)
    assert a != nce_items(pools, random.Random(6), num_positive=2, num_negative=4)


def test_shared_prompts_hold_each_prompt_once_and_map_back():
    items = [([("a", "b"), ("c", "d"), ("e", "f")], 1), ([("c", "d"), ("g", "h"), ("a", "b")], 2)]
    union, rows = shared_prompts(items)
    assert union == [("a", "b"), ("c", "d"), ("e", "f"), ("g", "h")]
    for (pairs, _), index in zip(items, rows):
        assert [union[i] for i in index] == pairs


# --- the step: shared encodings and memory-budget chunks give the accumulated gradient --------
def assert_same_gradients(got, expected):
    """Equal up to fp32 sums taken in another order: within 1e-4 of the largest gradient."""
    assert len(got) == len(expected) > 0
    scale = max(float(g.abs().max()) for g in expected)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-4 * scale, rtol=1e-3)


def _grads(trainer):
    return [p.grad.clone() for p in trainer.params if p.grad is not None]


def test_shared_step_gradient_equals_the_accumulated_one(tiny_model_path, tmp_path):
    trainer = Trainer(config(tiny_model_path), RELATIONS, tmp_path / "a", show_progress=False)
    trainer.encoder.eval()  # dropout off: the two must agree to float precision
    items = trainer.objective.contrastive_items(trainer.rng)[:3]
    trainer.optimizer.zero_grad()
    accumulated = sum(trainer.encoding.backward(pairs, trainer.objective.loss_fn(n), seed=1) for pairs, n in items)
    expected = _grads(trainer)
    encoded_accumulated = trainer.encoding.encoded
    trainer.optimizer.zero_grad(set_to_none=True)
    shared = trainer.encoding.backward_shared(items, trainer.objective.item_loss, seed=1)
    assert shared == pytest.approx(accumulated, rel=1e-5)
    got = _grads(trainer)
    assert len(got) == len(expected) > 0
    assert_same_gradients(got, expected)
    assert trainer.encoding.encoded - encoded_accumulated == len(shared_prompts(items)[0]) < encoded_accumulated


def test_memory_budget_decides_gradient_caching(tiny_model_path, tmp_path):
    trainer = Trainer(config(tiny_model_path), RELATIONS, tmp_path / "a", show_progress=False)
    pairs, n = trainer.objective.contrastive_items(trainer.rng)[0]
    assert trainer.encoding.chunk_size(pairs) >= len(pairs)  # 6 GiB hold a tiny step: one pass
    small = Trainer(config(tiny_model_path, memory_budget_gb=1e-6), RELATIONS, tmp_path / "b", show_progress=False)
    assert small.encoding.chunk_size(pairs) < len(pairs)  # cut into chunks
    grads = []
    for t in (trainer, small):
        t.encoder.eval()
        t.optimizer.zero_grad()
        t.encoding.backward(pairs, t.objective.loss_fn(n), seed=1)
        grads.append(_grads(t))
    assert_same_gradients(*grads)
    assert small.encoding.encoded > trainer.encoding.encoded  # gradient caching encodes twice


# --- frozen lower layers -----------------------------------------------------------------------
@pytest.mark.parametrize("builder", [build_tiny_bert, build_tiny_mpnet])
def test_frozen_layers_compute_the_full_forward_and_train_only_the_upper_layers(builder, tmp_path):
    kwargs = {"layers": 4} if builder is build_tiny_bert else {}
    path = str(builder(tmp_path / "model", **kwargs))
    trainer = Trainer(config(path, freeze_layers=1, epochs=1), RELATIONS, tmp_path / "run", show_progress=False)
    pairs = trainer.pools.every_pair()
    assert trainer.encoding.frozen.computed == len(pairs)  # every training prompt through the frozen part, once
    trainer.encoder.eval()
    with torch.no_grad():
        cached = trainer.encoding.embed(pairs, seed=0)
        full = trainer.relbert.runtime.__class__(trainer.encoder, None, mode="full")(
            *trainer.encoding.pooled.tensors(trainer.relbert.tokenizer.pad(trainer.encoding.ids_of(pairs))))
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=1e-4)
    before = {k: v.clone() for k, v in trainer.encoder.state_dict().items()}
    trainer.train()
    after = trainer.encoder.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".layer.0." not in k and "embeddings" not in k for k in changed), sorted(changed)[:3]
    assert any(".layer.1." in k for k in changed)
    # validation through the cache gives the saved model's vectors
    from relbert import RelBERT

    saved = RelBERT.from_pretrained(tmp_path / "run" / "model", precision="fp32")
    trainer.encoder.eval()
    probe = [("paris", "france"), ("a dog", "bark"), ("rome", "italy")]
    torch.testing.assert_close(torch.from_numpy(trainer.encoding.embedder().embed(probe)), torch.from_numpy(saved.embed(probe)),
                               atol=1e-5, rtol=0)
    assert trainer.encoding.frozen.computed == len(pairs) + 1  # only the one new prompt ("a dog")


def test_frozen_layers_refuse_what_cannot_be_split(tiny_model_path, tmp_path):
    with pytest.raises(ValueError, match="between 1 and 1"):
        Trainer(config(tiny_model_path, freeze_layers=2), RELATIONS, tmp_path, show_progress=False)
    with pytest.raises(ValueError, match="do not combine"):
        config(tiny_model_path, freeze_layers=1, lora_rank=2).check()


# --- precision auto ------------------------------------------------------------------------
@pytest.mark.parametrize("flags, validated, expected", [
    ({"avx512f", "avx512_bf16"}, True, "bf16"),
    ({"amx_bf16", "amx_tile"}, True, "bf16"),
    ({"avx512f", "avx512_vnni"}, True, "fp32"),  # VNNI is int8, not bf16
    (set(), True, "fp32"),
    ({"avx512_bf16"}, False, "fp32"),  # the model has no bf16 validation
])
def test_auto_precision_follows_the_cpu_flags(flags, validated, expected):
    from relbert.runtime.precision import choose_precision

    chosen, reason = choose_precision("auto", "cpu", model_validated=validated, flags=frozenset(flags))
    assert chosen == expected and reason
    assert choose_precision("fp32", "cpu", flags=frozenset(flags))[0] == "fp32"
    assert choose_precision("bf16", "cpu", flags=frozenset())[0] == "bf16"  # asked for: as requested
    assert choose_precision("auto", "cpu", flags=frozenset(flags), runtime="onnx")[0] == "fp32"  # ONNX: fp32/int8


def test_trainer_reports_its_precision_and_reason(tiny_model_path, tmp_path):
    from relbert.runtime.precision import native_bf16_flag

    said = []
    trainer = Trainer(config(tiny_model_path, precision="auto"), RELATIONS, tmp_path, show_progress=False,
                      report=said.append)
    expected = "bf16" if native_bf16_flag() else "fp32"
    assert trainer.precision == expected and said == [f"precision {expected}: {trainer.precision_reason}"]
    assert f"precision {expected}" in (tmp_path / "train.log").read_text()


# --- seeds ---------------------------------------------------------------------------------
class ScriptedValidator:
    """Returns scripted scores call by call (raises where the script says 'stop')."""

    questions = 1

    def __init__(self, script):
        self.script, self.calls = list(script), 0

    def __call__(self, model):
        value = self.script[self.calls]
        self.calls += 1
        if value == "stop":
            raise KeyboardInterrupt
        return value


def test_seeds_run_each_to_its_rule_and_keep_the_best(tiny_model_path, tmp_path):
    validator = ScriptedValidator([10.0, 20.0, 30.0, 5.0, 15.0, 12.0])  # seed 3: 10, 20; seed 4: 30, 5; seed 5: ...
    summary = train_seeds(config(tiny_model_path), [3, 4, 5], RELATIONS, tmp_path, {"v": validator},
                          show_progress=False)
    assert summary["winner"] == 4
    assert {s: r["best_score"] for s, r in summary["seeds"].items()} == {"3": 20.0, "4": 30.0, "5": 15.0}
    assert summary["seeds"]["4"]["best_epoch"] == 1
    assert os.path.samefile(tmp_path / "model" / "model.safetensors", tmp_path / "seeds" / "4" / "model" / "model.safetensors")
    saved = json.loads((tmp_path / "seeds.json").read_text())
    assert saved["winner"] == 4 and [r["epoch"] for r in saved["seeds"]["3"]["history"]] == [1, 2]
    log = (tmp_path / "train.log").read_text()
    for seed in (3, 4, 5):
        assert log.count(f"seed {seed} epoch {{") == 2
    # seeds differ: different sampling and dropout
    a, b = (load_file(str(tmp_path / "seeds" / s / "state" / "model.safetensors")) for s in ("3", "4"))
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_interrupted_seeds_resume_where_they_stopped(tiny_model_path, tmp_path):
    full = train_seeds(config(tiny_model_path), [3, 4], RELATIONS, tmp_path / "full",
                       {"v": ScriptedValidator([10.0, 20.0, 30.0, 5.0])}, show_progress=False)
    cut = ScriptedValidator([10.0, 20.0, 30.0, "stop"])  # interrupted in seed 4's second epoch
    with pytest.raises(KeyboardInterrupt):
        train_seeds(config(tiny_model_path), [3, 4], RELATIONS, tmp_path / "cut", {"v": cut}, show_progress=False)
    rest = ScriptedValidator([5.0])  # seed 3 is finished: only seed 4's epoch 2 is validated again
    resumed = train_seeds(config(tiny_model_path), [3, 4], RELATIONS, tmp_path / "cut", {"v": rest},
                          show_progress=False, resume=True)
    assert rest.calls == 1 and resumed["winner"] == full["winner"] == 4
    for seed in ("3", "4"):
        a = load_file(str(tmp_path / "full" / "seeds" / seed / "state" / "model.safetensors"))
        b = load_file(str(tmp_path / "cut" / "seeds" / seed / "state" / "model.safetensors"))
        for key in a:
            torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="lr"):
        train_seeds(config(tiny_model_path, lr=5e-4), [3, 4], RELATIONS, tmp_path / "cut", {}, show_progress=False,
                    resume=True)


def test_seeds_resumed_with_more_epochs_continue_where_they_ended(tiny_model_path, tmp_path):
    """Seeds that ran to their last epoch continue for the added ones; the winner is chosen again."""
    train_seeds(config(tiny_model_path, epochs=1), [3, 4], RELATIONS, tmp_path,
                {"v": ScriptedValidator([10.0, 20.0])}, show_progress=False)
    more = ScriptedValidator([30.0, 5.0])  # epoch 2 of seed 3, then of seed 4
    summary = train_seeds(config(tiny_model_path), [3, 4], RELATIONS, tmp_path, {"v": more},
                          show_progress=False, resume=True)
    assert more.calls == 2 and summary["winner"] == 3
    assert [r["epoch"] for r in summary["seeds"]["3"]["history"]] == [1, 2]
    assert summary["seeds"]["3"]["best_epoch"] == 2 and summary["seeds"]["4"]["best_epoch"] == 1
    assert json.loads((tmp_path / "seeds.json").read_text())["options"]["epochs"] == 2


def test_cli_seeds(tiny_model_path, tmp_path):
    from relbert.cli import train as train_cmd

    path = tmp_path / "rel.jsonl"
    path.write_text("".join(json.dumps({"relation_type": r.name, "positives": [list(p) for p in r.positives],
                                        "negatives": [list(p) for p in r.negatives]}) + "\n" for r in RELATIONS))
    args = ["--data", str(path), "--model", tiny_model_path, "-t", "a", "--num-positive", "3", "--num-negative", "6",
            "--epochs", "1", "--validation", "", "--precision", "fp32"]
    bad = CliRunner().invoke(train_cmd, ["-o", str(tmp_path / "x"), *args, "--seeds", "1,x"])
    assert bad.exit_code == 2 and "--seeds '1,x'" in bad.output
    ok = CliRunner().invoke(train_cmd, ["-o", str(tmp_path / "run"), *args, "--seeds", "1,2"])
    assert ok.exit_code == 0, ok.output
    assert "best seed" in ok.output and (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert sorted(p.name for p in (tmp_path / "run" / "seeds").iterdir()) == ["1", "2"]


# --- the base-encoder start --------------------------------------------------------------------
def test_no_model_starts_from_the_base_encoder_and_relbert_minilm_continues_the_default(minilm_path, tmp_path):
    from relbert.models.shipping import DEFAULT_DIR, WEIGHTS, read_delta_meta, split_delta

    if read_delta_meta(DEFAULT_DIR) is None:
        pytest.skip("this package ships no fine-tuned default")
    dense, _, _ = split_delta(load_file(str(DEFAULT_DIR / WEIGHTS)))
    name = sorted(dense)[0]  # a tensor the shipped fine-tuning changed
    base = load_file(str(Path(minilm_path) / "model.safetensors"))
    key = name if name in base else next(k for k in base if k.endswith(name))
    fresh = Trainer(config(None, template="d", epochs=1), RELATIONS, tmp_path / "a", show_progress=False)
    assert torch.equal(fresh.encoder.state_dict()[name], base[key])
    continued = Trainer(config("relbert-minilm", template="d", epochs=1), RELATIONS, tmp_path / "b", show_progress=False)
    assert not torch.equal(continued.encoder.state_dict()[name], base[key])
    torch.testing.assert_close(continued.encoder.state_dict()[name], dense[name].float())
