"""What a sentence-transformers user reaches for: ``encode`` with ``convert_to_tensor``, ``device``
and ``precision``; ``relbert.cos_sim`` against numpy's cosines; ``relbert.semantic_search`` giving
the neighbours ``relbert-search`` gives on the same collection."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import relbert
from relbert.errors import OptionError

PAIRS = [("paris", "france"), ("tokyo", "japan"), ("rome", "italy"), ("dog", "bark"), ("cat", "meow"),
         ("hot", "cold"), ("up", "down"), ("wheel", "car"), ("petal", "flower"), ("madrid", "spain")]


def test_encode_speaks_sentence_transformers(default_model):
    base = default_model.embed(PAIRS[:3])
    tensor = default_model.encode(PAIRS[:3], convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32 and tensor.device.type == "cpu"
    np.testing.assert_array_equal(tensor.numpy(), base)
    assert isinstance(default_model.encode(PAIRS[:3], convert_to_numpy=False), torch.Tensor)
    np.testing.assert_array_equal(default_model.encode(PAIRS[:3], convert_to_tensor=True, device="cpu").numpy(), base)
    half = default_model.encode(PAIRS[:3], precision="float16")
    assert half.dtype == np.float16 and np.abs(half.astype(np.float32) - base).max() < 1e-3
    with pytest.raises(OptionError, match="precision 'binary'"):
        default_model.encode(PAIRS[:1], precision="binary")
    with pytest.raises(OptionError, match="convert_to_tensor"):
        default_model.encode(PAIRS[:1], device="cpu")


def test_cos_sim_is_the_cosine():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 16)), rng.standard_normal((5, 16))
    b[2] = 0
    expected = (a @ b.T) / np.linalg.norm(a, axis=1)[:, None] / np.maximum(np.linalg.norm(b, axis=1), 1e-300)[None]
    expected[:, 2] = 0
    got = relbert.cos_sim(a, torch.tensor(b))
    assert got.shape == (4, 5)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(relbert.cos_sim(a[0], b).numpy(), expected[:1], atol=1e-5)  # one vector
    with pytest.raises(OptionError):
        relbert.cos_sim(a, b[:, :8])


def test_semantic_search_finds_what_relbert_search_finds(default_model, tmp_path):
    from relbert.cli import embed, search

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{h}\t{t}\n" for h, t in PAIRS))
    assert CliRunner().invoke(embed, [str(pairs), "-o", str(tmp_path / "c.npy"), "-q"]).exit_code == 0
    corpus = np.load(tmp_path / "c.npy")
    hits = relbert.semantic_search(corpus[:1], corpus, top_k=4)[0]
    assert hits[0] == {"corpus_id": 0, "score": pytest.approx(1.0, abs=1e-5)}
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    brute = corpus @ corpus[0]
    assert [h["corpus_id"] for h in hits] == list(np.argsort(-brute, kind="stable")[:4])
    result = CliRunner().invoke(search, [str(tmp_path / "c.npy"), "-p", str(pairs), "-Q", "paris\tfrance", "-k", "3"])
    assert result.exit_code == 0, result.output
    cli = [tuple(line.split("\t")[3:5]) for line in result.output.splitlines() if line.count("\t") == 4]
    assert cli == [PAIRS[h["corpus_id"]] for h in hits[1:]]  # the CLI leaves the query itself out
    with pytest.raises(OptionError):
        relbert.semantic_search(corpus[:1], corpus, top_k=0)
