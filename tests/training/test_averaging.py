"""Checkpoint averaging (relbert.training.averaging) against element-wise means computed with torch."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from relbert import RelBERT
from relbert.training.averaging import average_checkpoints, average_state_dicts


def _perturbed_checkpoints(tiny_model_path, tmp_path, n):
    """``n`` save_pretrained checkpoints of the tiny model, each float weight moved by its own noise."""
    folders = []
    for i in range(n):
        model = RelBERT.from_pretrained(tiny_model_path, device="cpu")
        generator = torch.Generator().manual_seed(i)
        with torch.no_grad():
            for p in model.encoder.parameters():
                p.add_(torch.randn(p.shape, generator=generator) * 0.05)
        folder = tmp_path / f"epoch{i + 1}"
        model.save_pretrained(folder)
        (folder / "training_config.json").write_text(json.dumps({"selected_epoch": i + 1}))
        folders.append(folder)
    return folders


def test_average_is_the_elementwise_mean_and_embeds_as_one(tiny_model_path, tmp_path):
    folders = _perturbed_checkpoints(tiny_model_path, tmp_path, 3)
    out = average_checkpoints(folders, tmp_path / "avg")
    states = [load_file(str(f / "model.safetensors")) for f in folders]
    averaged = load_file(str(out / "model.safetensors"))
    assert averaged.keys() == states[0].keys()
    moved = 0
    for key, tensor in averaged.items():
        expected = torch.stack([s[key] for s in states]).to(torch.float64).mean(0).to(tensor.dtype) \
            if tensor.is_floating_point() else states[0][key]
        torch.testing.assert_close(tensor, expected, rtol=0, atol=1e-6)
        moved += not torch.equal(tensor, states[0][key])
    assert moved > 0
    assert json.loads((out / "training_config.json").read_text())["averaged_from"] == [str(f) for f in folders]
    # the written checkpoint embeds like a model whose parameters were averaged in memory
    reference = RelBERT.from_pretrained(str(folders[0]), device="cpu")
    models = [RelBERT.from_pretrained(str(f), device="cpu") for f in folders]
    with torch.no_grad():
        for name, p in reference.encoder.named_parameters():
            p.copy_(torch.stack([dict(m.encoder.named_parameters())[name] for m in models]).mean(0))
    pairs = [("paris", "france"), ("dog", "bark"), ("hot", "cold")]
    loaded = RelBERT.from_pretrained(str(out), device="cpu")
    np.testing.assert_allclose(loaded.embed(pairs), reference.embed(pairs), atol=1e-5)
    assert loaded.template == reference.template and loaded.aggregation == reference.aggregation


def test_average_state_dicts_refuses_what_cannot_be_averaged():
    a = {"w": torch.ones(2, 2), "ids": torch.arange(3)}
    with pytest.raises(ValueError, match="at least two"):
        average_state_dicts([a], ["a"])
    with pytest.raises(ValueError, match="b: its tensors differ"):
        average_state_dicts([a, {"w": torch.ones(2, 2)}], ["a", "b"])
    with pytest.raises(ValueError, match=r"b: w is \(2, 3\)"):
        average_state_dicts([a, {"w": torch.ones(2, 3), "ids": torch.arange(3)}], ["a", "b"])
    with pytest.raises(ValueError, match="b: ids .* differs"):
        average_state_dicts([a, {"w": torch.ones(2, 2), "ids": torch.arange(1, 4)}], ["a", "b"])
    mean = average_state_dicts([a, {"w": torch.zeros(2, 2), "ids": torch.arange(3)}], ["a", "b"])
    assert torch.equal(mean["w"], torch.full((2, 2), 0.5)) and torch.equal(mean["ids"], torch.arange(3))


def test_cli_errors_leave_nothing(tiny_model_path, tmp_path):
    folders = _perturbed_checkpoints(tiny_model_path, tmp_path, 2)
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in folders[1].iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    state = load_file(str(broken / "model.safetensors"))
    state.pop(sorted(state)[0])
    save_file(state, str(broken / "model.safetensors"))
    run = [sys.executable, "-m", "relbert.cli.tools_command", "average-checkpoints"]
    bad = subprocess.run(run + [str(folders[0]), str(broken), "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert bad.returncode == 2 and str(broken) in bad.stderr and "differ" in bad.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.tmp").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    none = subprocess.run(run + [str(folders[0]), str(empty), "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert none.returncode == 2 and "no model*.safetensors" in none.stderr
    ok = subprocess.run(run + [*map(str, folders), "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    again = subprocess.run(run + [*map(str, folders), "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr
