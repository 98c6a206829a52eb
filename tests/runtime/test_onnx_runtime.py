"""The ONNX Runtime backend (``runtime="onnx"``; the default for ``precision="int8"`` on CPU).

fp32: the exported graph gives the paper's pooling of the untouched HF encoder run on each
prompt alone (the hand-computed reference), for every aggregation, BERT (mask shortcut in the
graph), RoBERTa (byte-level BPE) and DistilBERT (full forward), on batch sizes and prompt
lengths other than the ones it was traced with. int8: close to fp32, and rows assembled in
the input's order whatever the number of workers.
"""
from __future__ import annotations

import numpy as np
import pytest

from relbert import RelBERT
from relbert.runtime.torch_runtime import TorchEncoder
from relbert.cli import embed as embed_cli

from helpers.pooling_reference import hand_pooled
from helpers.tiny_model import build_tiny_bert, build_tiny_distilbert, build_tiny_roberta

pytest.importorskip("onnxruntime")

PAIRS = [("paris", "france"), ("dog", "bark"), ("natural selection", "evolution"),
         ("a long head phrase with many words", "x"), ("café", "crème brûlée"), ("hot", "cold"), ("a", "b")]


@pytest.fixture(scope="module")
def encoders(tmp_path_factory, minilm_path):
    root = tmp_path_factory.mktemp("onnx")
    return {"tiny-bert": str(build_tiny_bert(root / "bert", layers=3)),
            "tiny-roberta": str(build_tiny_roberta(root / "roberta")),
            "tiny-distilbert": str(build_tiny_distilbert(root / "distil")),
            "minilm": minilm_path}


def unit(vector):
    return vector / np.linalg.norm(vector)


@pytest.mark.parametrize("name", ["tiny-bert", "tiny-roberta", "tiny-distilbert"])
@pytest.mark.parametrize("aggregation", ["mask", "average", "average_no_mask"])
def test_fp32_graph_equals_hand_pooled_reference(encoders, name, aggregation):
    model = RelBERT.from_pretrained(encoders[name], template="d", aggregation=aggregation, device="cpu", runtime="onnx")
    assert model.runtime.name == "onnx" and model.onnx is not None and model.onnx.precision == "fp32"
    for batch_size in (1, 3, len(PAIRS)):  # other batch sizes and padded lengths than the traced sample
        vectors = model.embed(PAIRS, batch_size=batch_size)
        for pair, row in zip(PAIRS, vectors):
            np.testing.assert_allclose(row, unit(hand_pooled(model, pair, aggregation)), atol=2e-5)
    raw = model.embed(PAIRS[:2], normalize=False)
    for pair, row in zip(PAIRS[:2], raw):
        np.testing.assert_allclose(row, hand_pooled(model, pair, aggregation), rtol=1e-4, atol=1e-4)


def test_fp32_graph_on_minilm_with_the_mask_shortcut(encoders):
    torch_model = RelBERT.from_pretrained(encoders["minilm"], template="d", aggregation="mask", device="cpu")
    onnx_model = RelBERT.from_pretrained(encoders["minilm"], template="d", aggregation="mask", device="cpu",
                                         runtime="onnx")
    assert torch_model.mask_shortcut is not None and onnx_model.mask_shortcut is not None
    for pair, row in zip(PAIRS, onnx_model.embed(PAIRS, batch_size=4)):
        np.testing.assert_allclose(row, unit(hand_pooled(torch_model, pair, "mask")), atol=2e-5)


def test_int8_is_the_default_int8_backend_and_close_to_fp32(default_model):
    model = RelBERT.from_pretrained(device="cpu", precision="int8")
    assert model.runtime.name == "onnx" and model.onnx.precision == "int8"
    assert model.describe()["runtime"] == "onnx"
    full = default_model.embed(PAIRS)
    reduced = model.embed(PAIRS)
    assert reduced.dtype == np.float32 and reduced.shape == full.shape
    np.testing.assert_allclose(np.linalg.norm(reduced, axis=1), 1.0, atol=1e-5)
    cosines = (reduced * full).sum(1)
    # per-column weight scales: 0.99 mean cosine to fp32 on 3,006 validation pairs (per-tensor: 0.95)
    assert cosines.min() >= 0.95 and cosines.mean() >= 0.97, cosines
    assert not np.allclose(reduced, full, atol=1e-4), "int8 must actually quantize"


def test_export_traces_eager_attention_and_restores_the_encoder(encoders, tmp_path):
    """The graph is traced with eager attention (no NaN guard around the softmax); the torch
    encoder keeps SDPA afterwards."""
    onnx = pytest.importorskip("onnx")
    from relbert.runtime import onnx_runtime as onnx_backend

    model = RelBERT.from_pretrained(encoders["tiny-bert"], template="d", device="cpu")
    assert model.encoder.config._attn_implementation == "sdpa"
    path = tmp_path / "encoder.onnx"
    onnx_backend.export(TorchEncoder(model.encoder, None, mode="full").eval(), model.tokenizer.encode(PAIRS[:2]), path)
    assert model.encoder.config._attn_implementation == "sdpa"
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "Softmax" in ops and "IsNaN" not in ops, sorted(ops)
    # and the exported graph still equals the torch encoder (whose attention is SDPA)
    onnx_model = RelBERT.from_pretrained(encoders["tiny-bert"], template="d", device="cpu", runtime="onnx")
    np.testing.assert_allclose(onnx_model.embed(PAIRS), model.embed(PAIRS), atol=2e-5)


def test_int8_weights_have_one_scale_per_output_column(encoders, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from relbert.runtime import onnx_runtime as onnx_backend

    model = RelBERT.from_pretrained(encoders["tiny-bert"], template="d", device="cpu")
    source, target = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx_backend.export(TorchEncoder(model.encoder, None, mode="full").eval(), model.tokenizer.encode(PAIRS[:2]), source)
    onnx_backend.quantize_int8(source, target)
    graph = onnx.load(str(target)).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    quantized = [n for n in graph.node if n.op_type == "MatMulInteger"]
    linear_layers = sum(1 for m in model.encoder.encoder.modules() if m.__class__.__name__ == "Linear")
    assert len(quantized) == linear_layers  # every layer's weight matrix (the unused pooler is not exported),
    # and no activation x activation product (attention stays fp32)
    for node in quantized:
        weight = weights[node.input[1]]
        scale = next(weights[n] for n in weights if n == node.input[1].replace("_quantized", "_scale"))
        assert weight.dtype == np.int8 and scale.shape == (weight.shape[1],), (node.name, scale.shape)


def test_rows_follow_the_input_order_with_several_workers(encoders):
    """Batches run on parallel workers; each row is still its own pair's (duplicates included)."""
    model = RelBERT.from_pretrained(encoders["minilm"], device="cpu", precision="int8")
    pairs = PAIRS + [PAIRS[2], PAIRS[0]] + [(f"w{i}", f"v{i % 7}") for i in range(40)]
    one = model.embed(pairs, batch_size=4)
    model.onnx.workers = 3
    many = model.embed(pairs, batch_size=4)
    np.testing.assert_array_equal(one, many)  # the same batches, so the same int8 scales
    np.testing.assert_array_equal(many[len(PAIRS)], many[2])
    # every row is its own pair's: the fp32 graph is batch-independent, compare with one pair at a time
    fp32 = RelBERT.from_pretrained(encoders["minilm"], device="cpu", runtime="onnx")
    fp32.onnx.workers = 3
    rows = fp32.embed(pairs, batch_size=4)
    for index in (0, 5, 9, len(pairs) - 1):
        np.testing.assert_allclose(rows[index], fp32.embed([pairs[index]])[0], atol=2e-5)


def test_backend_choices_are_checked(encoders):
    path = encoders["tiny-bert"]
    with pytest.raises(ValueError, match="unknown runtime"):
        RelBERT.from_pretrained(path, runtime="tensorrt")
    with pytest.raises(ValueError, match="fp32 or int8"):
        RelBERT.from_pretrained(path, runtime="onnx", precision="bf16", device="cpu")
    with pytest.raises(ValueError, match="CPU only"):
        RelBERT.from_pretrained(path, runtime="onnx", device="cuda")
    with pytest.raises(ValueError, match="compile"):
        RelBERT.from_pretrained(path, runtime="onnx", compile=True, device="cpu")
    # torch stays available for int8 (eager dynamic quantization)
    assert RelBERT.from_pretrained(path, precision="int8", runtime="torch", device="cpu").onnx is None


def test_save_pretrained_from_an_onnx_fp32_model(encoders, tmp_path):
    model = RelBERT.from_pretrained(encoders["tiny-bert"], template="a", aggregation="mask", device="cpu", runtime="onnx")
    model.save_pretrained(tmp_path / "saved")
    reloaded = RelBERT.from_pretrained(str(tmp_path / "saved"), device="cpu")
    np.testing.assert_allclose(reloaded.embed(PAIRS), model.embed(PAIRS), atol=2e-5)


def test_cli_backend_option(encoders, tmp_path):
    from click.testing import CliRunner

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{h}\t{t}\n" for h, t in PAIRS), encoding="utf-8")
    runner = CliRunner()
    outputs = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / f"{backend}.npy"
        result = runner.invoke(embed_cli, [str(pairs), "-o", str(out), "-m", encoders["tiny-bert"], "--runtime", backend,
                                           "-q"])
        assert result.exit_code == 0, result.output
        outputs[backend] = np.load(out)
    np.testing.assert_allclose(outputs["onnx"], outputs["torch"], atol=2e-5)
    bad = runner.invoke(embed_cli, [str(pairs), "-o", str(tmp_path / "bad.npy"), "-m", encoders["tiny-bert"],
                                    "--runtime", "onnx", "--precision", "bf16", "-q"])
    assert bad.exit_code == 2 and "fp32 or int8" in bad.output
    assert not (tmp_path / "bad.npy").exists()
