"""A user's first hour (round 3): every mistake gets one line, exit status 2, nothing written,
and is caught before a model loads or an evaluation runs."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from relbert.cli import embed


def one_error_line(result):
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def no_model_load(monkeypatch):
    from relbert import model as model_module

    def refuse(*args, **kwargs):
        raise AssertionError("the encoder was loaded")

    monkeypatch.setattr(model_module, "load_encoder", refuse)


@pytest.fixture()
def good_tsv(tmp_path):
    path = tmp_path / "good.tsv"
    path.write_text("paris\tfrance\ndog\tbark\n", encoding="utf-8")
    return path


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA")
@pytest.mark.parametrize("device, says", [("cuda", "without CUDA"), ("cuda:3", "without CUDA"), ("gpu", "unknown device")])
def test_a_cuda_device_on_a_cpu_torch_is_one_line(tmp_path, good_tsv, tiny_model_path, monkeypatch, device, says):
    no_model_load(monkeypatch)
    out = tmp_path / "x.npy"
    result = CliRunner().invoke(embed, [str(good_tsv), "-o", str(out), "--model", tiny_model_path, "--device", device])
    assert says in one_error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.tsv"]
