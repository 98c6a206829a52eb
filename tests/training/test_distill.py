"""Distillation: the leakage filter, a student that moves towards its teacher on held-out pairs,
resume of a distillation run, and the CLI's checks."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from relbert.data.distill_pairs import build, evaluation_pairs, filter_leakage, fold, recombine
from relbert.data.relsim import Relation
from relbert.training import TrainConfig, Trainer
from helpers.tiny_model import build_tiny_bert

RELATIONS = [
    Relation("geo/capital", [("paris", "france"), ("tokyo", "japan"), ("rome", "italy")], [("france", "paris")]),
    Relation("animal/young", [("dog", "puppy"), ("cat", "kitten"), ("cow", "calf")], [("puppy", "dog")]),
]
WORDS = ["paris", "france", "tokyo", "japan", "rome", "italy", "dog", "puppy", "cat", "kitten", "cow", "calf",
         "hot", "cold", "big", "small", "wheel", "car", "petal", "flower", "bark", "meow", "moo", "red", "apple"]


def word_pairs(seed, n):
    rng = np.random.default_rng(seed)
    out = set()
    while len(out) < n:
        a, b = rng.choice(len(WORDS), 2, replace=False)
        out.add((WORDS[a], WORDS[b]))
    return sorted(out)


# --- the leakage filter -------------------------------------------------------------------
def test_a_planted_evaluation_pair_is_removed_in_both_orders_and_any_case(eval_data):
    forbidden = evaluation_pairs(eval_data)
    assert any(name.startswith("analogy/") and name.endswith("/test") for name in forbidden)
    assert "semeval/valid" in forbidden and any(name.startswith("lexical/") for name in forbidden)
    source = next(name for name in sorted(forbidden) if name.endswith("/test") and name.startswith("analogy/"))
    head, tail = sorted(forbidden[source])[0]
    candidates = [(head.upper(), tail), (f" {tail}", head.title()), ("qwzxv", "plorfin"), ("Qwzxv", "PLORFIN")]
    kept, removed = filter_leakage(candidates, forbidden)
    assert kept == [("qwzxv", "plorfin")]  # both plants gone; the duplicate (case-folded) kept once
    assert removed[source] == 2
    assert fold(("A ", "b")) == ("a", "b")


def test_distillation_pairs_leave_out_every_evaluation_pair(eval_data):
    kept, report = build(eval_data, recombined=200, seed=1)
    forbidden = set().union(*evaluation_pairs(eval_data).values())
    assert kept and not any(fold(p) in forbidden for p in kept)
    assert report["kept"] == len(kept) and sum(report["removed_by"].values()) > 0
    assert len(recombine([("a", "b"), ("c", "d")], 5, seed=2)) == 5


# --- distillation training ----------------------------------------------------------------
@pytest.fixture(scope="module")
def teacher_student(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill-models")
    teacher = build_tiny_bert(root / "teacher", hidden=48, seed=7)  # another width: the learned map is used
    student = build_tiny_bert(root / "student", hidden=32, seed=0)
    return str(teacher), str(student)


def distill_config(student, teacher, pairs_path, **kw):
    base = dict(model=student, template="a", epochs=3, lr=3e-3, warmup=1, seed=0, validation=[], precision="fp32",
                distill_from=teacher, distill_pairs=str(pairs_path), distill_batch=16)
    base.update(kw)
    return TrainConfig(**base)


def mapped_distance(trainer, teacher_vectors, pairs):
    """Mean 1 - cos between the student's mapped vectors and the teacher's on ``pairs``."""
    trainer.encoder.eval()
    student = torch.from_numpy(trainer.relbert.embed(pairs, normalize=False))
    with torch.no_grad():
        mapped = torch.nn.functional.normalize(trainer.distill.projection(student), dim=-1)
    return float((1 - (mapped * torch.from_numpy(teacher_vectors)).sum(-1)).mean())


def test_distillation_reduces_the_distance_to_the_teacher_on_held_out_pairs(teacher_student, tmp_path):
    from relbert import RelBERT

    teacher, student = teacher_student
    train_pairs, held_out = word_pairs(0, 120), word_pairs(1, 200)
    held_out = [p for p in held_out if p not in set(train_pairs)][:40]
    pairs_path = tmp_path / "pairs.tsv"
    pairs_path.write_text("".join(f"{h}\t{t}\n" for h, t in train_pairs))
    trainer = Trainer(distill_config(student, teacher, pairs_path), RELATIONS, tmp_path / "run", show_progress=False)
    assert trainer.distill.projection is not None and trainer.objective.steps_per_epoch() == 8  # 120 pairs in batches of 16
    labels = np.load(tmp_path / "run" / "teacher.npy")
    reference = RelBERT.from_pretrained(teacher, device="cpu", precision="fp32")
    np.testing.assert_allclose(labels, reference.embed(train_pairs), atol=1e-5)  # the teacher's unit vectors
    target = reference.embed(held_out)
    before = mapped_distance(trainer, target, held_out)
    trainer.train()
    after = mapped_distance(trainer, target, held_out)
    assert after < 0.7 * before, (before, after)


def test_distillation_resume_is_identical_and_labels_once(teacher_student, tmp_path):
    teacher, student = teacher_student
    pairs_path = tmp_path / "pairs.tsv"
    pairs_path.write_text("".join(f"{h}\t{t}\n" for h, t in word_pairs(2, 48)))
    config = distill_config(student, teacher, pairs_path, epochs=2, contrastive_weight=0.5, num_positive=3,
                            num_negative=4)
    Trainer(config, RELATIONS, tmp_path / "full", show_progress=False).train()

    class Interrupt(Exception):
        pass

    def stop(epoch):
        raise Interrupt

    with pytest.raises(Interrupt):
        Trainer(config, RELATIONS, tmp_path / "cut", show_progress=False).train(on_epoch_end=stop)
    labelled = (tmp_path / "cut" / "teacher.npy").stat().st_mtime_ns
    resumed = Trainer(config, RELATIONS, tmp_path / "cut", show_progress=False)
    resumed.train(resume=True)
    assert (tmp_path / "cut" / "teacher.npy").stat().st_mtime_ns == labelled  # not labelled again
    for name in ("model.safetensors", "classifier.safetensors"):  # the encoder and the learned map
        a = load_file(str(tmp_path / "full" / "state" / name))
        b = load_file(str(tmp_path / "cut" / "state" / name))
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)


def test_cli_distillation_needs_teacher_and_pairs(tmp_path):
    from relbert.cli import train as train_cmd

    result = CliRunner().invoke(train_cmd, ["-o", str(tmp_path / "x"), "--distill-from", "relbert-mpnet",
                                            "--validation", ""])
    assert result.exit_code == 2 and "--distill-pairs" in result.output


def test_a_multi_seed_distillation_labels_once_for_every_seed(teacher_student, tmp_path, monkeypatch):
    """--seeds: the teacher labels the pairs once, into OUTPUT/teacher.npy, for every seed."""
    from relbert import RelBERT
    from relbert.training import train_seeds

    teacher, student = teacher_student
    pairs_path = tmp_path / "pairs.tsv"
    pairs_path.write_text("".join(f"{h}\t{t}\n" for h, t in word_pairs(3, 32)))
    loads = []
    real = RelBERT.from_pretrained.__func__

    def counting(cls, name=None, **kwargs):
        loads.append(name)
        return real(cls, name, **kwargs)

    monkeypatch.setattr(RelBERT, "from_pretrained", classmethod(counting))
    train_seeds(distill_config(student, teacher, pairs_path, epochs=1), [0, 1], RELATIONS, tmp_path / "run", {},
                show_progress=False)
    assert loads.count(teacher) == 1  # the teacher is loaded (and labels) once for both seeds
    assert (tmp_path / "run" / "teacher.npy").is_file()
    assert not any((tmp_path / "run" / "seeds" / s / "teacher.npy").exists() for s in ("0", "1"))
