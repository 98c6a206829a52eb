"""Trainer: data readers, gradient caching, resume identity, torchrun identity, CLI errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from relbert.cli import train as train_cmd
from relbert.data.relsim import read_relsim_file
from relbert.data.semeval import load_semeval
from relbert.errors import InputError
from relbert.training import TrainConfig, Trainer

RELATIONS = [
    {"relation_type": "geo/capital", "positives": [["paris", "france"], ["tokyo", "japan"], ["rome", "italy"]],
     "negatives": [["france", "paris"], ["japan", "tokyo"]]},
    {"relation_type": "geo/language", "positives": [["france", "french"], ["japan", "japanese"], ["italy", "italian"]],
     "negatives": [["french", "france"]]},
    {"relation_type": "animal/sound", "positives": [["dog", "bark"], ["cat", "meow"], ["cow", "moo"]],
     "negatives": [["bark", "dog"], ["meow", "cat"]]},
    {"relation_type": "animal/young", "positives": [["dog", "puppy"], ["cat", "kitten"], ["cow", "calf"]],
     "negatives": [["puppy", "dog"]]},
]


@pytest.fixture(scope="module")
def relsim_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "relations.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RELATIONS), encoding="utf-8")
    return path


def tiny_config(model, **kw):
    base = dict(model=model, template="a", num_positive=3, num_negative=6, epochs=2, lr=1e-3, warmup=2, seed=3,
                chunk_size=64, validation=[], precision="fp32")
    base.update(kw)
    return TrainConfig(**base)


def state_tensors(folder):
    return load_file(str(Path(folder) / "state" / "model.safetensors"))


def test_semeval_reader_and_held_out_pairs(eval_data):
    train, valid = load_semeval(eval_data / "semeval2012_task2")
    assert all(len(r.positives) == 10 and len(r.negatives) == 10 for r in train)
    assert all(len(r.positives) <= 5 and len(r.negatives) <= 5 for r in valid)  # the next up to 5 of each
    assert sum(len(r.positives) for r in valid) >= 3 * len(valid)
    for t, v in zip(train, valid):  # held-out pairs never train
        assert t.name == v.name and not set(t.positives) & set(v.positives) and not set(t.negatives) & set(v.negatives)


def test_semeval_training_set(data_dir):
    train, valid = load_semeval(data_dir / "semeval2012_task2")
    assert len(train) == 79 and all(len(r.positives) == 10 and len(r.negatives) == 10 for r in train)
    assert len({r.parent for r in train}) == 10
    assert not any(set(t.positives) & set(v.positives) for t, v in zip(train, valid))
    first = next(r for r in train if r.name.endswith("/1a"))
    assert first.name == "CLASS-INCLUSION/1a" and first.positives[0] == ("weapon", "spear")


@pytest.mark.parametrize("record, problem", [
    ('{"relation_type": "x", "positives": [["a", "b"], ["c"]]}', "positives\\[1\\] must be a pair"),
    ('{"positives": [["a", "b"], ["c", "d"]]}', "relation_type"),
    ('{"relation_type": "x", "positives": [["a", "b"]]}', "at least 2 positives"),
    ('{"relation_type": "x", "positives": [["a", "b"], ["c", "d"]], "negatives": "no"}', "negatives must be a list"),
    ("not json", "bad JSON"),
])
def test_malformed_relsim(tmp_path, record, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(RELATIONS[0]) + "\n" + record + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=problem) as err:
        read_relsim_file(path)
    assert str(err.value).startswith(f"{path}:2: ")
    result = CliRunner().invoke(train_cmd, ["-o", str(tmp_path / "out"), "--data", str(path), "-q", "--validation", ""])
    assert result.exit_code == 2 and f"{path}:2: " in result.output


def test_gradient_caching_gives_the_same_gradients(tiny_model_path, relsim_file, tmp_path):
    grads = []
    for chunk in (1000, 3):
        trainer = Trainer(tiny_config(tiny_model_path, chunk_size=chunk), read_relsim_file(relsim_file), tmp_path / str(chunk),
                          show_progress=False)
        trainer.encoder.eval()  # no dropout: both paths must agree to float precision
        pairs, n = trainer.objective.contrastive_items(trainer.rng)[0]
        trainer.optimizer.zero_grad()
        loss = trainer.encoding.backward(pairs, trainer.objective.loss_fn(n), seed=1)
        grads.append((loss, [p.grad.clone() for p in trainer.params if p.grad is not None]))
    (loss_a, ga), (loss_b, gb) = grads
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    assert len(ga) == len(gb) > 0
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("loss", ["nce", "triplet"])
def test_train_saves_loadable_model_and_resume_is_identical(tiny_model_path, relsim_file, tmp_path, loss):
    relations = read_relsim_file(relsim_file)
    config = tiny_config(tiny_model_path, loss=loss, batch=2, classification_loss=loss == "triplet")
    full = Trainer(config, relations, tmp_path / "full", show_progress=False)
    progress = full.train()
    assert [r["epoch"] for r in progress["history"]] == [1, 2]

    class Interrupt(Exception):
        pass

    def stop(epoch):
        if epoch == 0:
            raise Interrupt

    with pytest.raises(Interrupt):
        Trainer(config, relations, tmp_path / "cut", show_progress=False).train(on_epoch_end=stop)
    resumed = Trainer(config, relations, tmp_path / "cut", show_progress=False).train(resume=True)
    assert resumed["epoch"] == 2
    a, b = state_tensors(tmp_path / "full"), state_tensors(tmp_path / "cut")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)
    assert (tmp_path / "full" / "train.log").read_text().count("epoch {") == 2

    from relbert import RelBERT

    model = RelBERT.from_pretrained(tmp_path / "full" / "model")
    assert model.is_trained and model.template.startswith("Today")
    saved = json.loads((tmp_path / "full" / "model" / "training_config.json").read_text())
    assert saved["loss"] == loss and saved["selected_epoch"] in (1, 2)


@pytest.mark.parametrize("loss", ["nce", "triplet"])
def test_resume_inside_an_epoch_is_identical(tiny_model_path, relsim_file, tmp_path, loss):
    """Stopped after a mid-epoch checkpoint (--checkpoint-every) and resumed: the same weights,
    loss history and selected epoch as the run that was never stopped."""
    relations = read_relsim_file(relsim_file)
    config = tiny_config(tiny_model_path, loss=loss, batch=2, gradient_accumulation=2)
    full = Trainer(config, relations, tmp_path / "full", show_progress=False).train()

    class Interrupt(Exception):
        pass

    seen = []

    def stop(partial):
        seen.append(partial["items_done"])
        if partial["epoch"] == 1:  # the second epoch, after its first checkpoint
            raise Interrupt

    with pytest.raises(Interrupt):
        Trainer(config, relations, tmp_path / "cut", show_progress=False).train(checkpoint_every=1, on_checkpoint=stop)
    saved = json.loads((tmp_path / "cut" / "state" / "state.json").read_text())["progress"]
    assert saved["epoch"] == 1 and saved["partial"]["epoch"] == 1 and saved["partial"]["items_done"] == 2
    assert seen[0] == 2  # every step of 2 relations
    resumed = Trainer(config, relations, tmp_path / "cut", show_progress=False).train(resume=True)
    a, b = state_tensors(tmp_path / "full"), state_tensors(tmp_path / "cut")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)
    assert [r["loss"] for r in resumed["history"]] == pytest.approx([r["loss"] for r in full["history"]], rel=1e-6)
    assert resumed["best_epoch"] == full["best_epoch"] and "partial" not in resumed
    assert "checkpoint in epoch 2 after 2 relations" in (tmp_path / "cut" / "train.log").read_text()


def test_resume_with_more_epochs_extends_the_run_exactly(tiny_model_path, relsim_file, tmp_path):
    """A finished 1-epoch run resumed with --epochs 2 (constant learning rate) ends with the weights
    and history of a run started with 2 epochs; a decaying schedule cannot grow (planned length)."""
    relations = read_relsim_file(relsim_file)
    full = Trainer(tiny_config(tiny_model_path), relations, tmp_path / "full", show_progress=False).train()
    Trainer(tiny_config(tiny_model_path, epochs=1), relations, tmp_path / "short", show_progress=False).train()
    grown = Trainer(tiny_config(tiny_model_path), relations, tmp_path / "short", show_progress=False).train(resume=True)
    a, b = state_tensors(tmp_path / "full"), state_tensors(tmp_path / "short")
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)
    assert [r["loss"] for r in grown["history"]] == pytest.approx([r["loss"] for r in full["history"]], rel=1e-6)
    assert json.loads((tmp_path / "short" / "training_config.json").read_text())["epochs"] == 2
    assert "extending the run from 1 to 2 epochs" in (tmp_path / "short" / "train.log").read_text()
    Trainer(tiny_config(tiny_model_path, epochs=1, lr_schedule="linear"), relations, tmp_path / "decay",
            show_progress=False).train()
    with pytest.raises(ValueError, match="only with --lr-schedule constant"):
        Trainer(tiny_config(tiny_model_path, lr_schedule="linear"), relations, tmp_path / "decay",
                show_progress=False).train(resume=True)


def test_resume_refuses_changed_options(tiny_model_path, relsim_file, tmp_path):
    relations = read_relsim_file(relsim_file)
    Trainer(tiny_config(tiny_model_path, epochs=1), relations, tmp_path, show_progress=False).train()
    with pytest.raises(ValueError, match="lr"):
        Trainer(tiny_config(tiny_model_path, epochs=2, lr=5e-4), relations, tmp_path, show_progress=False).train(resume=True)


def test_torchrun_two_processes_match_one(tiny_model_path, relsim_file, tmp_path):
    args = ["--data", str(relsim_file), "--model", tiny_model_path, "--template", "a", "--num-positive", "3",
            "--num-negative", "6", "--epochs", "2", "--lr", "1e-3", "--warmup", "2", "--seed", "3",
            "--gradient-accumulation", "2", "--validation", "", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "relbert.cli.train_command", "-o", str(tmp_path / "one"), *args],
                         capture_output=True, text=True, timeout=600, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
                          "-m", "relbert.cli.train_command", "-o", str(tmp_path / "two"), *args],
                         capture_output=True, text=True, timeout=600, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = state_tensors(tmp_path / "one"), state_tensors(tmp_path / "two")
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)
    assert not torch.equal(a["embeddings.word_embeddings.weight"], load_file(str(Path(tiny_model_path) / "model.safetensors"))["embeddings.word_embeddings.weight"])


def test_lora_trains_only_adapters_and_saves_a_plain_merged_checkpoint(tiny_model_path, relsim_file, tmp_path):
    pytest.importorskip("peft")
    from relbert import RelBERT

    relations = read_relsim_file(relsim_file)
    trainer = Trainer(tiny_config(tiny_model_path, lora_rank=2, epochs=1, lr=1e-2), relations, tmp_path / "lora",
                      show_progress=False)
    trainable = {n for n, p in trainer.encoder.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert sum(p.numel() for p in trainer.params) == sum(p.numel() for n, p in trainer.encoder.named_parameters()
                                                         if "lora_" in n)
    frozen = {n: p.detach().clone() for n, p in trainer.encoder.named_parameters() if "lora_" not in n}
    trainer.train()
    for name, param in trainer.encoder.named_parameters():
        if "lora_" not in name:
            assert torch.equal(param, frozen[name]), name  # base weights untouched by training
    saved = load_file(str(tmp_path / "lora" / "model" / "model.safetensors"))
    assert not any("lora_" in k or "base_layer" in k for k in saved)
    base = load_file(str(Path(tiny_model_path) / "model.safetensors"))
    query = "encoder.layer.0.attention.self.query.weight"
    delta = saved[query] - base[query]
    assert delta.abs().max() > 0 and torch.linalg.matrix_rank(delta.double(), atol=1e-6) <= 2  # a rank-2 change
    trainer.encoder.eval()
    pairs = [("paris", "france"), ("dog", "puppy")]
    loaded = RelBERT.from_pretrained(tmp_path / "lora" / "model")
    torch.testing.assert_close(torch.from_numpy(loaded.embed(pairs)), torch.from_numpy(trainer.relbert.embed(pairs)),
                               atol=1e-5, rtol=0)


def test_bf16_autocast_training_runs_the_encoder_in_bf16_with_fp32_weights(tiny_model_path, relsim_file, tmp_path):
    relations = read_relsim_file(relsim_file)
    trainer = Trainer(tiny_config(tiny_model_path, precision="bf16", epochs=1), relations, tmp_path / "bf16", show_progress=False)
    seen = []
    # a Linear inside the encoder computes in bf16 (LayerNorm and softmax stay fp32 under autocast)
    hook = trainer.encoder.encoder.layer[0].intermediate.dense.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    pairs, n = trainer.objective.contrastive_items(trainer.rng)[0]
    loss = trainer.encoding.backward(pairs, trainer.objective.loss_fn(n), seed=1)
    hook.remove()
    assert seen and set(seen) == {torch.bfloat16} and loss == loss  # finite
    assert all(p.dtype == torch.float32 and p.grad is not None and p.grad.dtype == torch.float32
               for p in trainer.params if p.requires_grad and p.grad is not None)
    assert trainer.encoding.embed(pairs[:2], seed=0).dtype == torch.float32  # pooled vectors and losses in fp32


# --- recipe options: learning-rate schedule, weighted selection, early stopping, kept epochs -------
def test_lr_schedules_by_hand():
    from relbert.training import lr_factor

    # warmup 4 of 14 steps: (s+1)/4 during warmup, then the decay over the 10 steps left
    assert [lr_factor(s, 4, 14, "linear") for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(4, 4, 14, "linear") == 1.0 and lr_factor(9, 4, 14, "linear") == pytest.approx(0.5)
    assert lr_factor(13, 4, 14, "linear") == pytest.approx(0.1)
    assert lr_factor(9, 4, 14, "cosine") == pytest.approx(0.5)  # half way: cos(pi/2)
    assert lr_factor(6, 4, 14, "cosine") == pytest.approx((1 + 0.8090169943749475) / 2)  # cos(pi/5)
    assert lr_factor(13, 4, 14, "constant") == 1.0


def test_weighted_selection_by_hand():
    from relbert.training import selection_score

    scores = {"u2/valid": 50.0, "conceptnet/valid": 20.0}
    sizes = {"u2/valid": 24, "conceptnet/valid": 1112}
    assert selection_score(scores, sizes, "mean") == 35.0
    assert selection_score(scores, sizes, "weighted") == pytest.approx((50 * 24 + 20 * 1112) / 1136)


@pytest.mark.parametrize("history, best, patience, min_epochs, stop", [
    ([1, 2, 3], 2, 2, 0, False),           # still improving
    ([3, 2, 2.5], 0, 2, 0, True),          # two epochs without a gain
    ([3, 2, 2.5], 0, 2, 8, False),         # ... but fewer than min_epochs, and it did not fall twice in a row
    ([3, 2, 1], 0, 2, 8, True),            # fell twice in a row: stop before min_epochs
    ([1, 2, 3, 2, 2.5, 1, 1, 1], 2, 2, 8, True),
    ([3, 2, 1], 0, 0, 0, False),           # patience 0: never
])
def test_early_stopping_rule(history, best, patience, min_epochs, stop):
    from relbert.training import should_stop

    assert should_stop(history, best, patience, min_epochs) is stop


def test_linear_schedule_reaches_zero_and_epochs_are_kept(tiny_model_path, relsim_file, tmp_path):
    relations = read_relsim_file(relsim_file)
    config = tiny_config(tiny_model_path, epochs=3, warmup=1, lr_schedule="linear", keep_epochs=True)
    trainer = Trainer(config, relations, tmp_path, show_progress=False)
    assert trainer.objective.steps_per_epoch() == 6  # 4 relations and their 2 parent classes, one per step
    trainer.train()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.0)
    assert trainer.scheduler.last_epoch == 18
    for epoch in (1, 2, 3):
        assert (tmp_path / "epochs" / str(epoch) / "model.safetensors").is_file()
    last = load_file(str(tmp_path / "epochs" / "3" / "model.safetensors"))
    first = load_file(str(tmp_path / "epochs" / "1" / "model.safetensors"))
    assert any(not torch.equal(first[k], last[k]) for k in first)
    # the selected model is the kept epoch's files, linked rather than written a second time
    best = json.loads((tmp_path / "model" / "training_config.json").read_text())["selected_epoch"]
    kept = tmp_path / "epochs" / str(best)
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == sorted(p.name for p in kept.iterdir())
    assert os.path.samefile(tmp_path / "model" / "model.safetensors", kept / "model.safetensors")


def test_training_stops_early_on_weighted_validation(tiny_model_path, relsim_file, tmp_path):
    class Falling:
        """A validator whose score falls every epoch, weighing `questions`."""

        def __init__(self, start, questions):
            self.value, self.questions = start, questions

        def __call__(self, model):
            self.value -= 1.0
            return self.value

    validators = {"small": Falling(90.0, 1), "big": Falling(10.0, 99)}
    config = tiny_config(tiny_model_path, epochs=6, selection="weighted", patience=2, min_epochs=5)
    progress = Trainer(config, read_relsim_file(relsim_file), tmp_path, validators, show_progress=False).train()
    assert progress["stopped_early"] == 3 and progress["best_epoch"] == 1
    first = progress["history"][0]
    assert first["score"] == pytest.approx((89 * 1 + 9 * 99) / 100) and first["mean"] == pytest.approx(49.0)


def test_balanced_signal_and_its_standard_error_by_hand():
    """Made-up per-set accuracies: the balanced score is their plain mean, its standard error
    sqrt(sum (1/S)^2 p(1-p)/n); the weighted one's uses the question shares; and a seeded
    bootstrap over made-up questions lands on the same value."""
    import math
    import random

    from relbert.training.config import selection_score, selection_se

    scores = {"u2": 50.0, "google": 90.0, "conceptnet": 30.0}
    sizes = {"u2": 24, "google": 50, "conceptnet": 1112}
    assert selection_score(scores, sizes, "balanced") == pytest.approx((50 + 90 + 30) / 3)
    by_hand = 100 * math.sqrt((0.5 * 0.5 / 24 + 0.9 * 0.1 / 50 + 0.3 * 0.7 / 1112) / 9)
    assert selection_se(scores, sizes, "balanced") == pytest.approx(by_hand)
    total = 24 + 50 + 1112
    weighted = 100 * math.sqrt(sum((sizes[n] / total) ** 2 * (scores[n] / 100) * (1 - scores[n] / 100) / sizes[n]
                                   for n in scores))
    assert selection_se(scores, sizes, "weighted") == pytest.approx(weighted)
    rng = random.Random(0)
    outcomes = {n: [1] * round(scores[n] * sizes[n] / 100) + [0] * (sizes[n] - round(scores[n] * sizes[n] / 100))
                for n in scores}
    means = []
    for _ in range(4000):
        means.append(sum(100 * sum(rng.choices(o, k=len(o))) / len(o) for o in outcomes.values()) / 3)
    mu = sum(means) / len(means)
    boot = math.sqrt(sum((m - mu) ** 2 for m in means) / (len(means) - 1))
    assert boot == pytest.approx(by_hand, rel=0.05)
