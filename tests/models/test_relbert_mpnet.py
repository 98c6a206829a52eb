"""relbert-mpnet: the shipped delta (small, described) and, where `relbert-download relbert-mpnet`
has fetched the base, the model it gives (parity with the official package is in
test_official_parity.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from relbert import RelBERT
from relbert.models.named import RELBERT_MPNET, base_folder, is_fetched
from relbert.models.shipping import WEIGHTS, read_delta_meta

PACKAGE = Path(__file__).resolve().parents[2] / "relbert"
DELTA = RELBERT_MPNET.delta
shipped = read_delta_meta(DELTA)
needs_delta = pytest.mark.skipif(shipped is None, reason="this package ships no relbert-mpnet delta")
needs_base = pytest.mark.skipif(not is_fetched("relbert-mpnet"),
                                reason="the relbert-mpnet base is not fetched (run: relbert-download relbert-mpnet)")


@needs_delta
def test_delta_is_small_and_described():
    assert (DELTA / WEIGHTS).stat().st_size <= 25 * 10**6
    assert {"base", "relbert_config", "command", "validation"} <= set(shipped)
    assert shipped["base"] == "all-mpnet-base-v2"


def test_installed_package_stays_under_50_mb():
    """Everything setup.py installs from relbert/ (code and both shipped models)."""
    total = sum(p.stat().st_size for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                and not p.name.endswith(".so"))
    assert total < 50 * 10**6, total


@needs_delta
@needs_base
def test_relbert_mpnet_loads_offline_with_its_config_and_delta(monkeypatch):
    from conftest import DATA

    data_dir = DATA if DATA.is_dir() else None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shipped_model = RelBERT.from_pretrained("relbert-mpnet")
    assert shipped_model.offset_weight == shipped["relbert_config"]["offset_weight"] > 0
    model = RelBERT.from_pretrained("relbert-mpnet", offset_weight=0)  # the relation vectors: what the delta changed
    assert model.is_trained and model.display_name == "relbert-mpnet"
    assert model.template == shipped["relbert_config"]["template"]
    assert model.aggregation == shipped["relbert_config"]["aggregation_mode"]
    assert model.encoder.config._attn_implementation == "eager"  # MPNet has no SDPA
    base = RelBERT.from_pretrained(str(base_folder("relbert-mpnet")), template=model.template,
                                   aggregation=model.aggregation)
    pairs = [("paris", "france"), ("tokyo", "japan"), ("puppy", "dog"), ("kitten", "cat")]
    assert np.abs(model.embed(pairs) - base.embed(pairs)).max() > 1e-2  # the delta is applied
    if data_dir is None:
        return
    from relbert.data.analogy import resolve_analogy
    from relbert.evaluation import evaluate_analogy

    questions = resolve_analogy("google", "valid", data_dir)  # validation split: fine-tuning must help
    assert evaluate_analogy(model, questions)["accuracy"] > evaluate_analogy(base, questions)["accuracy"] + 10


@needs_delta
@needs_base
def test_relbert_mpnet_runs_every_precision_close_to_fp32():
    import torch

    pairs = [("paris", "france"), ("natural selection", "evolution"), ("[MASK]", "x"), ("dog", "bark")]
    fp32 = RelBERT.from_pretrained("relbert-mpnet", precision="fp32").embed(pairs)
    onnx = RelBERT.from_pretrained("relbert-mpnet", runtime="onnx").embed(pairs)
    assert np.abs(onnx - fp32).max() <= 2e-5
    if torch.cpu._is_avx512_bf16_supported():
        bf16 = RelBERT.from_pretrained("relbert-mpnet", precision="bf16").embed(pairs)
        assert (bf16 * fp32).sum(1).min() >= 0.99
    # int8 is not offered for relbert-mpnet: it lost more than 1 point of validation accuracy
    from relbert.errors import OptionError

    with pytest.raises(OptionError, match="int8 loses more than 1 point"):
        RelBERT.from_pretrained("relbert-mpnet", precision="int8")
