"""RelBERT.embed per precision against the official package's approach, plus the machine's
GEMM ceiling and the model FLOP utilisation (MFU), side by side in one run.

The official approach (relbert 2.0.2 ``get_embedding``) re-created faithfully: each prompt
tokenized on its own and padded to 64 tokens, a list-of-lists round trip, ``torch.no_grad``,
the masked sum over the padded batch.

MFU = real tokens/s x 2 x non-embedding parameters / measured GEMM FLOP/s, with the GEMM rate
measured on the encoder's own matrix shapes at the same precision (the issue's definition).
With ``mask`` pooling RelBERT.embed skips most of the last layer (relbert/runtime/mask_shortcut.py), so
``mfu_executed_*`` also reports the utilisation of the FLOPs really executed.

int8 runs through ONNX Runtime by default (``int8_onnx``: its GEMM rate is measured with ONNX
Runtime's dynamically quantized MatMul, on as many one-thread workers as RelBERT.embed uses);
torch's eager int8 (``int8``) and fp32 through ONNX Runtime (``fp32_onnx``) run beside it.

    pytest bench/bench_embed.py --benchmark-only
"""
from __future__ import annotations

import time

import pytest
import torch

from relbert import RelBERT
from relbert.templates import fill_template

from conftest import report

GEMM: dict = {}


def official_approach(model, pairs, batch_size=64, max_length=64):
    tok = model.hf_tokenizer
    encoded = []
    for head, tail in pairs:
        enc = dict(tok(fill_template(model.template, head, tail, tok.mask_token),
                       max_length=max_length, truncation=True, padding="max_length"))
        enc["labels"] = [0 if x in (tok.pad_token_id, tok.mask_token_id) else 1 for x in enc["input_ids"]]
        encoded.append(enc)
    vectors = []
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            batch = {k: torch.tensor([e[k] for e in chunk]) for k in chunk[0].keys()}
            labels = batch.pop("labels").float()
            hidden = model.model(**batch).last_hidden_state
            vectors += (hidden * labels.unsqueeze(-1)).sum(1).cpu().tolist()
    return vectors


def non_embedding_params(model) -> int:
    """Parameters outside the embeddings, counted on a fresh fp32 copy of the architecture
    (int8 linear layers keep their weights in packed params, not in ``named_parameters``)."""
    from transformers import AutoModel

    fresh = AutoModel.from_config(model.model.config)
    return int(sum(p.numel() for n, p in fresh.named_parameters() if "embeddings" not in n))


def onnx_int8_step(shapes, tokens: int, workers: int):
    """One call of each shape through ONNX Runtime's dynamically quantized MatMul (the ops the int8
    graph runs), on ``workers`` threads at once with one ONNX Runtime thread each, as RelBERT.embed."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from relbert.runtime.onnx_runtime import quantize_int8

    inputs, nodes, weights, outputs = [], [], [], []
    for i, (k, n) in enumerate(shapes):
        inputs.append(helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, [tokens, k]))
        weights.append(numpy_helper.from_array(np.random.randn(k, n).astype(np.float32) / k ** 0.5, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [f"x{i}", f"w{i}"], [f"y{i}"]))
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [tokens, n]))
    graph = helper.make_model(helper.make_graph(nodes, "gemms", inputs, outputs, weights),
                              opset_imports=[helper.make_opsetid("", 17)])
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(graph, Path(tmp) / "f.onnx")
        quantize_int8(Path(tmp) / "f.onnx", Path(tmp) / "q.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(Path(tmp) / "q.onnx"), options, providers=["CPUExecutionProvider"])
    feed = {f"x{i}": np.random.randn(tokens, k).astype(np.float32) for i, (k, n) in enumerate(shapes)}
    pool = ThreadPoolExecutor(workers)
    return lambda: list(pool.map(lambda _: session.run(None, feed), range(workers))), workers


def gemm_rate(precision: str, tokens: int, hidden: int, inner: int, seconds: float = 1.0) -> float:
    """FLOP/s of the encoder's linear layers' shapes: (tokens x h) @ (h x 4h), (tokens x 4h) @ (4h x h), (h x h)."""
    shapes = [(hidden, inner), (inner, hidden), (hidden, hidden)]
    copies = 1
    if precision == "int8_onnx":
        step, copies = onnx_int8_step(shapes, tokens, torch.get_num_threads())
    elif precision == "int8":  # the same dynamic quantization the model uses
        import warnings

        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layers = [(quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(k, n)), {torch.nn.Linear}, dtype=torch.qint8),
                       torch.randn(tokens, k)) for k, n in shapes]
        step = lambda: [layer(x) for layer, x in layers]  # noqa: E731
    else:
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        mats = [(torch.randn(tokens, k, dtype=dtype), torch.randn(k, n, dtype=dtype)) for k, n in shapes]
        step = lambda: [a @ b for a, b in mats]  # noqa: E731
    flops = copies * sum(2 * tokens * k * n for k, n in shapes)
    step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        done += 1
    return flops * done / (time.perf_counter() - start)


@pytest.fixture(scope="module")
def tokens_2k(minilm, pairs_2k):
    return int(minilm.tokenizer.lengths(pairs_2k).sum())


def executed_gemm_flops(model, n_tokens: int, n_rows: int) -> float:
    """Linear-layer FLOPs RelBERT.embed really runs: with the mask shortcut the last layer
    computes keys and values for every token but everything else for the mask row only."""
    c = model.model.config
    h, inner, layers = c.hidden_size, c.intermediate_size, c.num_hidden_layers
    per_token = 4 * h * h + 2 * h * inner
    if model.mask_shortcut is None:
        return 2.0 * n_tokens * layers * per_token
    kv = 2 * h * h
    return 2.0 * (n_tokens * ((layers - 1) * per_token + kv) + n_rows * (per_token - kv))


def mfu(benchmark, model, n_tokens, precision, results, n_rows):
    """The issue's MFU (every token through every weight) and the MFU of the FLOPs really executed."""
    seconds = benchmark.stats.stats.min
    hidden = model.hidden_size
    rate = GEMM.setdefault(precision, gemm_rate(precision, 64 * 24, hidden, 4 * hidden))
    used = n_tokens / seconds * 2 * non_embedding_params(model)
    executed = executed_gemm_flops(model, n_tokens, n_rows) / seconds
    benchmark.extra_info.update({"gemm_gflops": round(rate / 1e9, 1), "model_gflops": round(used / 1e9, 1),
                                 "mfu": round(used / rate, 3), "mfu_executed": round(executed / rate, 3)})
    results[f"mfu_{precision}"] = used / rate
    results[f"mfu_executed_{precision}"] = executed / rate


def test_official_approach(benchmark, minilm, pairs_2k, results):
    benchmark.pedantic(official_approach, args=(minilm, pairs_2k), rounds=2, iterations=1, warmup_rounds=0)
    report(benchmark, len(pairs_2k), "official_approach", results)


@pytest.mark.parametrize("batch_size", [32, 64, 128, 256])
def test_relbert_embed_fp32(benchmark, minilm, pairs_2k, tokens_2k, batch_size, results):
    benchmark.pedantic(minilm.embed, args=(pairs_2k,), kwargs={"batch_size": batch_size}, rounds=3, iterations=1,
                       warmup_rounds=1)
    report(benchmark, len(pairs_2k), f"relbert_embed_fp32_b{batch_size}", results)
    if batch_size == 64:
        mfu(benchmark, minilm, tokens_2k, "fp32", results, len(pairs_2k))


def test_relbert_embed_fp32_full_forward(benchmark, pairs_2k, results):
    """The same fp32 path with the mask shortcut off: every layer at every token."""
    model = RelBERT.from_pretrained(device="cpu")
    model.mask_shortcut = None
    benchmark.pedantic(model.embed, args=(pairs_2k,), kwargs={"batch_size": 64}, rounds=3, iterations=1,
                       warmup_rounds=1)
    report(benchmark, len(pairs_2k), "relbert_embed_fp32_full_forward", results)


def test_relbert_embed_fp32_onnx(benchmark, pairs_2k, results):
    """fp32 through ONNX Runtime (runtime="onnx", opt-in): what int8's ONNX Runtime graph is
    compared against besides the default fp32 path."""
    model = RelBERT.from_pretrained(device="cpu", runtime="onnx")
    benchmark.pedantic(model.embed, args=(pairs_2k,), rounds=3, iterations=1, warmup_rounds=1)  # default batch 32
    report(benchmark, len(pairs_2k), "relbert_embed_fp32_onnx", results)


@pytest.mark.parametrize("precision, backend", [("bf16", "torch"), ("int8", "onnx"), ("int8", "torch")])
def test_relbert_embed_reduced(benchmark, pairs_2k, tokens_2k, precision, backend, results):
    """Reduced precision; int8 runs through ONNX Runtime by default, torch's eager int8 beside it."""
    if precision == "bf16" and not torch.cpu._is_avx512_bf16_supported():
        pytest.skip("this CPU has no native bf16")
    model = RelBERT.from_pretrained(device="cpu", precision=precision, runtime=backend)
    # each backend's default batch size (64 torch, 32 ONNX Runtime)
    benchmark.pedantic(model.embed, args=(pairs_2k,), rounds=3, iterations=1, warmup_rounds=1)
    name = precision if backend == "torch" else f"{precision}_{backend}"
    report(benchmark, len(pairs_2k), f"relbert_embed_{name}", results)
    mfu(benchmark, model, tokens_2k, name, results, len(pairs_2k))


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_relbert_embed_compiled(benchmark, pairs_2k, precision, results):
    """compile=True (opt-in): the warm-up round pays the compilation, the timed rounds do not."""
    if precision == "bf16" and not torch.cpu._is_avx512_bf16_supported():
        pytest.skip("this CPU has no native bf16")
    model = RelBERT.from_pretrained(device="cpu", precision=precision, compile=True)
    benchmark.pedantic(model.embed, args=(pairs_2k,), kwargs={"batch_size": 64}, rounds=3, iterations=1,
                       warmup_rounds=1)
    report(benchmark, len(pairs_2k), f"relbert_embed_compiled_{precision}", results)


def test_auto_against_the_best_fixed_precision(pairs_2k):
    """precision="auto" (measured on this CPU, relbert.runtime.measured_precision) against fp32 and
    bf16 fixed, the same 2,000 pairs, side by side in one process, best of two rounds each: auto
    should run within 5% of the faster fixed one."""
    import time

    rates = {}
    for precision in ("fp32", "bf16", "auto"):
        model = RelBERT.from_pretrained(device="cpu", precision=precision)
        model.embed(pairs_2k[:128])
        best = min(_timed(model.embed, pairs_2k, time.perf_counter) for _ in range(2))
        rates[precision if precision != "auto" else f"auto ({model.precision})"] = len(pairs_2k) / best
    auto = next(v for k, v in rates.items() if k.startswith("auto"))
    fixed = max(rates["fp32"], rates["bf16"])
    print("\n" + ", ".join(f"{k} {v:,.0f} pairs/s" for k, v in rates.items())
          + f"; auto / best fixed = {auto / fixed:.3f}")


def _timed(fn, arg, clock):
    started = clock()
    fn(arg)
    return clock() - started
