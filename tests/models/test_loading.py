"""Published checkpoints and every encoder architecture.

- Checkpoints stored the way the authors published theirs (``pytorch_model.bin``, sharded or
  not, ``config.json`` with ``relbert_config``) load through torch's restricted unpickler;
  safetensors wins where both exist; a pickle that would run code is refused unrun.
- Hub names resolve from a Hugging Face cache offline, through the folder code path.
- Tiny random encoders of every tokenizer family load, embed the paper's pooling (checked by
  hand against the untouched HF encoder), save and reload to the same vectors.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from relbert import RelBERT
from relbert.cli import embed as embed_cmd
from relbert.errors import ModelNotFoundError, UnsafeCheckpointError
from relbert.templates import TEMPLATES

from helpers.pooling_reference import hand_pooled
from helpers.tiny_model import (build_tiny_albert, build_tiny_bert, build_tiny_distilbert, build_tiny_mpnet, build_tiny_roberta,
                        build_tiny_xlmr)

PAIRS = [("paris", "france"), ("natural selection", "evolution"), ("café", "crème brûlée"), ("東京", "日本"),
         ("dog", "bark")]
RELBERT_CONFIG = {"aggregation_mode": "mask", "template": TEMPLATES["d"]}


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory):
    return Path(build_tiny_roberta(tmp_path_factory.mktemp("roberta")))


def write_published(source: Path, dest: Path, relbert_config=RELBERT_CONFIG, shards: int = 1, perturb: float = 0.0,
                    keep_safetensors: bool = False) -> Path:
    """``source`` (an HF folder) re-stored the published way: ``pytorch_model.bin`` (or ``shards``
    pickled shards with an index), ``config.json`` carrying ``relbert_config``, tokenizer files."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    dest.mkdir(parents=True, exist_ok=True)
    config = json.loads((source / "config.json").read_text())
    if relbert_config is not None:
        config["relbert_config"] = relbert_config
    (dest / "config.json").write_text(json.dumps(config))
    AutoTokenizer.from_pretrained(source).save_pretrained(dest)
    state = {k: v + perturb for k, v in load_file(str(source / "model.safetensors")).items()}
    if keep_safetensors:
        import shutil

        shutil.copy(source / "model.safetensors", dest / "model.safetensors")
    if shards == 1:
        torch.save(state, dest / "pytorch_model.bin")
        return dest
    names = sorted(state)
    weight_map = {}
    for k in range(shards):
        part = f"pytorch_model-{k + 1:05d}-of-{shards:05d}.bin"
        chunk = {n: state[n] for n in names[k::shards]}
        torch.save(chunk, dest / part)
        weight_map.update(dict.fromkeys(chunk, part))
    (dest / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return dest


# --- pickled weights ------------------------------------------------------------------------
@pytest.mark.parametrize("shards", [1, 3])
def test_published_bin_checkpoint_loads_with_its_relbert_config(roberta_dir, tmp_path, shards):
    published = write_published(roberta_dir, tmp_path / "published", shards=shards)
    assert not list(published.glob("*.safetensors"))
    model = RelBERT.from_pretrained(published)
    assert model.is_trained and model.template == TEMPLATES["d"] and model.aggregation == "mask"
    reference = RelBERT.from_pretrained(roberta_dir, template="d", aggregation="mask")  # same weights, safetensors
    np.testing.assert_array_equal(model.embed(PAIRS, normalize=False), reference.embed(PAIRS, normalize=False))


def test_safetensors_win_over_a_pickled_file(roberta_dir, tmp_path):
    both = write_published(roberta_dir, tmp_path / "both", perturb=0.5, keep_safetensors=True)
    pickled_only = write_published(roberta_dir, tmp_path / "bin", perturb=0.5)
    got = RelBERT.from_pretrained(both).embed(PAIRS)
    safetensors = RelBERT.from_pretrained(roberta_dir, template="d", aggregation="mask").embed(PAIRS)
    perturbed = RelBERT.from_pretrained(pickled_only).embed(PAIRS)
    np.testing.assert_array_equal(got, safetensors)
    assert np.abs(got - perturbed).max() > 1e-3  # the .bin really holds other weights


def test_save_pretrained_converts_a_bin_checkpoint_to_safetensors(roberta_dir, tmp_path):
    model = RelBERT.from_pretrained(write_published(roberta_dir, tmp_path / "published"))
    model.save_pretrained(tmp_path / "converted")
    files = {p.name for p in (tmp_path / "converted").iterdir()}
    assert "model.safetensors" in files and not any(f.endswith(".bin") for f in files)
    again = RelBERT.from_pretrained(tmp_path / "converted")
    assert again.template == model.template and again.aggregation == model.aggregation
    np.testing.assert_array_equal(again.embed(PAIRS), model.embed(PAIRS))


class _RunsCode:
    """Pickles as a call to ``exec``: what a malicious checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def write_malicious(source: Path, dest: Path, marker: Path, shards: int = 1) -> Path:
    write_published(source, dest, shards=shards)
    target = dest / ("pytorch_model.bin" if shards == 1 else f"pytorch_model-00002-of-{shards:05d}.bin")
    state = torch.load(target, weights_only=True)
    state["payload"] = _RunsCode(marker)
    torch.save(state, target)
    return target


@pytest.mark.parametrize("shards", [1, 2])
def test_a_pickle_that_would_run_code_is_refused_unrun(roberta_dir, tmp_path, shards):
    marker = tmp_path / "ran.txt"
    bad = write_malicious(roberta_dir, tmp_path / "evil", marker, shards=shards)
    with pytest.raises(UnsafeCheckpointError) as info:
        RelBERT.from_pretrained(tmp_path / "evil")
    message = str(info.value)
    assert str(bad) in message and "refused" in message and "\n" not in message
    assert not marker.exists()
    # the control: a full unpickle of the same file does run the code
    torch.load(bad, weights_only=False)
    assert marker.read_text() == "ran"


def test_cli_refuses_a_malicious_checkpoint_with_one_line_and_no_output(roberta_dir, tmp_path):
    marker = tmp_path / "ran.txt"
    bad = write_malicious(roberta_dir, tmp_path / "evil", marker)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("paris\tfrance\n", encoding="utf-8")
    out = tmp_path / "out.npy"
    result = CliRunner().invoke(embed_cmd, [str(pairs), "-o", str(out), "--model", str(tmp_path / "evil"), "-q"])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(bad) in lines[0] and "refused" in lines[0]
    assert not out.exists() and not marker.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("out")]


def test_a_bin_that_is_not_a_torch_file_is_a_clear_error(roberta_dir, tmp_path):
    folder = write_published(roberta_dir, tmp_path / "broken")
    (folder / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelNotFoundError, match="pytorch_model.bin"):
        RelBERT.from_pretrained(folder)


# --- hub names from the cache, offline --------------------------------------------------------
def make_hub_cache(cache: Path, repo_id: str, files_from: Path) -> Path:
    """The Hugging Face cache layout (``models--org--name/{refs/main, snapshots/REV/...}``)."""
    import shutil

    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    shutil.copytree(files_from, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def test_hub_name_loads_offline_from_the_cache_like_a_folder(roberta_dir, tmp_path):
    published = write_published(roberta_dir, tmp_path / "published")
    cache = tmp_path / "hub"
    make_hub_cache(cache, "relbert/relbert-roberta-large", published)
    expected = RelBERT.from_pretrained(published).embed(PAIRS, normalize=False)
    np.save(tmp_path / "expected.npy", expected)
    script = (
        "import sys, numpy as np\n"
        "from relbert import RelBERT\n"
        "m = RelBERT.from_pretrained('relbert/relbert-roberta-large')\n"
        f"pairs = {PAIRS!r}\n"
        "np.testing.assert_array_equal(m.embed(pairs, normalize=False), np.load(sys.argv[1]))\n"
        "print(m.aggregation, m.is_trained, m.name_or_path)\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "expected.npy")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["mask", "True", "relbert/relbert-roberta-large"]


def test_unknown_hub_name_fails_at_once_offline(tmp_path):
    script = "from relbert import RelBERT\nRelBERT.from_pretrained('relbert/no-such-model')\n"
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)  # not the clone: its relbert/ folder would make the name a folder
    assert proc.returncode != 0 and "ModelNotFoundError" in proc.stderr and "relbert/no-such-model" in proc.stderr


# --- every architecture and tokenizer family -------------------------------------------------
ARCHITECTURES = {
    "bert-wordpiece": build_tiny_bert,
    "distilbert-wordpiece": build_tiny_distilbert,
    "mpnet-wordpiece": build_tiny_mpnet,
    "roberta-bytelevel-bpe": build_tiny_roberta,
    "xlmr-unigram": build_tiny_xlmr,
    "albert-unigram": build_tiny_albert,
}


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def architecture(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    ARCHITECTURES[request.param](folder)
    return request.param, Path(folder)


@pytest.mark.parametrize("aggregation", ["mask", "average_no_mask"])
def test_every_architecture_loads_embeds_saves_and_reloads(architecture, aggregation, tmp_path):
    name, folder = architecture
    model = RelBERT.from_pretrained(folder, template="a", aggregation=aggregation, max_length=128)
    expected_attention = "eager" if name.startswith("mpnet") else "sdpa"  # MPNet has no SDPA: fallback
    assert model.encoder.config._attn_implementation == expected_attention
    raw = model.embed(PAIRS, normalize=False)
    hand = np.stack([hand_pooled(model, pair, aggregation) for pair in PAIRS])
    np.testing.assert_allclose(raw, hand, rtol=1e-4, atol=1e-4 * np.abs(hand).max())
    # the fused tokenizer gives the HF tokenizer's ids for the filled prompt
    for pair, ids in zip(PAIRS, model.tokenizer.token_ids(PAIRS)):
        prompt = TEMPLATES["a"].replace("<subj>", pair[0]).replace("<obj>", pair[1]).replace(
            "<mask>", model.hf_tokenizer.mask_token)
        assert list(ids) == model.hf_tokenizer(prompt)["input_ids"]
    model.save_pretrained(tmp_path / "saved")
    again = RelBERT.from_pretrained(tmp_path / "saved", max_length=128)
    assert (again.template, again.aggregation) == (TEMPLATES["a"], aggregation)
    np.testing.assert_array_equal(again.embed(PAIRS, normalize=False), raw)


def test_every_architecture_runs_through_onnx_runtime(architecture):
    """The ONNX export works for each architecture (fp32 equals torch); the mask shortcut is
    on only where the self-check passes (BERT-family post-LN layers), never silently wrong."""
    name, folder = architecture
    torch_model = RelBERT.from_pretrained(folder, template="a", aggregation="mask", max_length=128)
    onnx_model = RelBERT.from_pretrained(folder, template="a", aggregation="mask", max_length=128, runtime="onnx")
    np.testing.assert_allclose(onnx_model.embed(PAIRS), torch_model.embed(PAIRS), atol=2e-5)
    assert (torch_model.mask_shortcut is not None) == (name.split("-")[0] in ("bert", "roberta", "xlmr"))


def test_unreachable_hub_fails_with_one_line_and_no_retries(tmp_path):
    script = "from relbert import RelBERT\nRelBERT.from_pretrained('relbert/relbert-roberta-large')\n"
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "empty"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    env.pop("HF_HUB_OFFLINE", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)  # not the clone (its relbert/ folder)
    assert proc.returncode != 0 and "unreachable" in proc.stderr and "Retrying" not in proc.stderr
