"""Parity with the official relbert==2.0.2 package (optional).

Build its venv with ``tools/official-relbert-venv.sh DIR`` and point
``RELBERT_OFFICIAL_PYTHON`` at ``DIR/bin/python`` (default: ``../official-venv/bin/python``).
Skipped when that interpreter is absent.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from relbert import RelBERT
from relbert.templates import TEMPLATES

from conftest import REPO, analogy_pairs

OFFICIAL = Path(os.environ.get("RELBERT_OFFICIAL_PYTHON", REPO.parent / "official-venv" / "bin" / "python"))
HELPER = REPO / "tests" / "helpers" / "official_embed.py"

pytestmark = [
    pytest.mark.official,
    pytest.mark.skipif(not OFFICIAL.exists(), reason=f"official relbert venv not found at {OFFICIAL}"),
]


def official_vectors(tmp_path, model_path, pairs, template=None, aggregation=None):
    pairs_file = tmp_path / "pairs.tsv"
    pairs_file.write_text("".join(f"{h}\t{t}\n" for h, t in pairs), encoding="utf-8")
    out = tmp_path / "official.npy"
    args = [str(OFFICIAL), str(HELPER), str(model_path), str(pairs_file), str(out)]
    if template:
        args += [template, aggregation]
    # Run from / so the repo's relbert/ is not on the official interpreter's path.
    proc = subprocess.run(args, capture_output=True, text=True, cwd="/", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.load(out), proc.stdout.strip().splitlines()[-1]


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("template, aggregation", [("a", "average_no_mask"), ("d", "mask"), ("b", "average")])
def test_vectors_and_cosines_equal_official(minilm_path, eval_data, tmp_path, template, aggregation):
    pairs = analogy_pairs(eval_data, limit=300) + [("natural selection", "evolution"), ("café", "crème brûlée")]
    ref, _ = official_vectors(tmp_path, minilm_path, pairs, TEMPLATES[template], aggregation)
    ours = RelBERT.from_pretrained(minilm_path, template=template, aggregation=aggregation)
    raw = ours.embed(pairs, normalize=False)
    np.testing.assert_allclose(raw, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    cos_ours, cos_ref = unit(raw) @ unit(raw).T, unit(ref) @ unit(ref).T
    assert np.abs(cos_ours - cos_ref).max() <= 1e-5
    np.testing.assert_allclose(ours.embed(pairs) @ ours.embed(pairs).T, cos_ref, atol=1e-5)


def test_our_checkpoint_loads_in_official_package(minilm_path, tmp_path):
    ours = RelBERT.from_pretrained(minilm_path, template="e", aggregation="mask")
    ours.save_pretrained(tmp_path / "ckpt")
    pairs = [("paris", "france"), ("dog", "bark"), ("natural selection", "evolution")]
    ref, used = official_vectors(tmp_path, tmp_path / "ckpt", pairs)
    assert used == f"{TEMPLATES['e']!r} mask"
    np.testing.assert_allclose(ours.embed(pairs, normalize=False), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_shipped_default_saves_a_checkpoint_the_official_package_embeds_identically(default_model, tmp_path):
    """At offset_weight=0 the shipped default's vectors are the official package's; saved with its
    shipped offset weight, the checkpoint still loads there and the official package embeds the
    relation part, which is our vector's first half."""
    relation_only = RelBERT.from_pretrained(precision="fp32", offset_weight=0)
    pairs = [("paris", "france"), ("puppy", "dog"), ("natural selection", "evolution")]
    for model, folder in ((relation_only, "relation"), (default_model, "default")):
        model.save_pretrained(tmp_path / folder)
        ref, used = official_vectors(tmp_path, tmp_path / folder, pairs)
        assert used == f"{model.template!r} {model.aggregation}"
        ours = model.embed(pairs, normalize=False)[:, : model.hidden_size]
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    assert default_model.offset_weight > 0 and relation_only.dimension == relation_only.hidden_size
    np.testing.assert_array_equal(relation_only.embed(pairs, normalize=False),
                                  default_model.embed(pairs, normalize=False)[:, : default_model.hidden_size])


def test_published_bin_checkpoint_written_by_the_official_package_embeds_identically(minilm_path, eval_data, tmp_path):
    """A checkpoint stored the published way (official package, ``pytorch_model.bin``) loads with its
    relbert_config through the restricted unpickler, and its vectors equal the official package's."""
    folder = tmp_path / "published"
    proc = subprocess.run([str(OFFICIAL), str(REPO / "tests" / "helpers" / "official_save_bin.py"), str(minilm_path),
                           TEMPLATES["b"], "average", str(folder)], capture_output=True, text=True, cwd="/", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (folder / "pytorch_model.bin").is_file() and not list(folder.glob("*.safetensors"))
    pairs = analogy_pairs(eval_data, limit=200) + [("natural selection", "evolution"), ("café", "crème brûlée")]
    ref, used = official_vectors(tmp_path, folder, pairs)
    assert used == f"{TEMPLATES['b']!r} average"
    ours = RelBERT.from_pretrained(folder)
    assert ours.is_trained and ours.template == TEMPLATES["b"] and ours.aggregation == "average"
    raw = ours.embed(pairs, normalize=False)
    np.testing.assert_allclose(raw, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    cosine = (unit(raw) * unit(ref)).sum(1)
    assert cosine.min() >= 0.99999


def test_relbert_mpnet_saves_a_checkpoint_the_official_package_embeds_identically(tmp_path):
    from relbert.models.named import RELBERT_MPNET, is_fetched
    from relbert.models.shipping import read_delta_meta

    if read_delta_meta(RELBERT_MPNET.delta) is None:
        pytest.skip("this package ships no relbert-mpnet delta")
    if not is_fetched("relbert-mpnet"):
        pytest.skip("the relbert-mpnet base is not fetched (run: relbert-download relbert-mpnet)")
    model = RelBERT.from_pretrained("relbert-mpnet", precision="fp32")
    model.save_pretrained(tmp_path / "mpnet")
    pairs = [("paris", "france"), ("puppy", "dog"), ("natural selection", "evolution"), ("café", "crème brûlée")]
    ref, used = official_vectors(tmp_path, tmp_path / "mpnet", pairs)
    assert used == f"{model.template!r} {model.aggregation}"
    ours = model.embed(pairs, normalize=False)[:, : model.hidden_size]  # the relation part (it ships an offset weight)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    assert (unit(ours) * unit(ref)).sum(1).min() >= 0.99999
    relation_only = RelBERT.from_pretrained("relbert-mpnet", precision="fp32", offset_weight=0)
    np.testing.assert_array_equal(relation_only.embed(pairs, normalize=False), ours)
