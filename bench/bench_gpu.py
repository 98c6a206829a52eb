"""The GPU figures of the README in one run (issue 21), each beside its reference; skipped without CUDA.

Models: random weights of the real shapes (MiniLM-L6: 6 x 384; BERT-large: 24 x 1024) with the
packaged MiniLM's real tokenizer files and template ``d`` / ``mask`` pooling, so the run needs no
weight package and no ``../shared``. Pairs: ``$RELBERT_BENCH_PAIRS`` (a pairs TSV), else real
pairs read from ``../shared/data``. Every figure is printed in a table at the end (and written as
JSON to ``$RELBERT_BENCH_JSON`` when set).

    python bench/bench_gpu.py --write-pairs gpu_pairs.tsv        # where ../shared/data is
    RELBERT_BENCH_PAIRS=gpu_pairs.tsv python -m pytest bench/bench_gpu.py --benchmark-only -p no:cacheprovider

``RELBERT_BENCH_GPU_SMOKE=1`` runs the same code on CPU with tiny sizes (a test does, so the
script is known to run before a GPU is at hand); its figures mean nothing.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

SMOKE = os.environ.get("RELBERT_BENCH_GPU_SMOKE") == "1"
CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
HALF = "fp16" if CUDA else "fp32"
pytestmark = [pytest.mark.skipif(not (CUDA or SMOKE), reason="needs a CUDA GPU (RELBERT_BENCH_GPU_SMOKE=1: CPU smoke run)"),
              pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")]

SHAPES = {
    "minilm": dict(num_hidden_layers=6, hidden_size=384, num_attention_heads=12, intermediate_size=1536),
    "large": dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16, intermediate_size=4096),
}
if SMOKE and not CUDA:
    SHAPES["large"] = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128)
N_PAIRS = {"minilm": 100_000, "large": 30_000} if not SMOKE else {"minilm": 300, "large": 100}
ROWS: list = []  # (figure, value, unit, reference, ratio)


def sync():
    if CUDA:
        torch.cuda.synchronize()


def record(name, value, unit, reference=None, ratio=None):
    ROWS.append({"figure": name, "value": round(float(value), 3), "unit": unit, "reference": reference,
                 "ratio": None if ratio is None else round(float(ratio), 3)})


def best_of(fn, rounds=3):
    """Seconds of the fastest of ``rounds`` calls (after one warm-up call; the smoke run: one call)."""
    if SMOKE and not CUDA:
        rounds = 1
    else:
        fn()
        sync()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


# --- inputs ------------------------------------------------------------------------------------
def real_pairs(n):
    """``n`` distinct pairs: the carried file, else every pair of ../shared/data's analogy and
    lexical-relation files (both orders), then new pairs of their words to reach ``n``."""
    from relbert.io import read_pairs

    source = os.environ.get("RELBERT_BENCH_PAIRS")
    if source:
        pairs = list(dict.fromkeys(read_pairs(source)))
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from conftest import DATA

        if not DATA.is_dir():
            pytest.skip("no RELBERT_BENCH_PAIRS and no shared data")
        pairs = set()
        for path in sorted((DATA / "analogy").glob("*/*.jsonl")):
            for line in path.open(encoding="utf-8"):
                record_ = json.loads(line)
                pairs.update(tuple(p) for p in [record_["stem"], *record_["choice"]])
        for path in sorted((DATA / "lexical_relation").rglob("*.tsv")):
            for line in path.read_text(encoding="utf-8").splitlines():
                fields = line.split("\t")
                if len(fields) == 3 and fields[0].strip() and fields[1].strip():
                    pairs.add((fields[0], fields[1]))
        pairs = sorted(pairs | {(t, h) for h, t in pairs})
    rng = random.Random(0)
    rng.shuffle(pairs)
    if len(pairs) < n:  # recombine real words into further distinct pairs (as many as there are)
        heads, tails, seen = sorted({p[0] for p in pairs}), sorted({p[1] for p in pairs}), set(pairs)
        n = min(n, len(heads) * len(tails))
        while len(pairs) < n:
            pair = (rng.choice(heads), rng.choice(tails))
            if pair not in seen:
                seen.add(pair)
                pairs.append(pair)
    return pairs[:n]


def build_model(folder: Path, shape: dict) -> str:
    """A BERT of ``shape`` with random weights and the packaged MiniLM's tokenizer files."""
    import shutil

    from transformers import BertConfig, BertModel

    from relbert.models.loading import default_model_path

    base = Path(default_model_path())
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (base / name).is_file():
            shutil.copy(base / name, folder / name)
    config = BertConfig.from_pretrained(str(base))
    for key, value in shape.items():
        setattr(config, key, value)
    config.relbert_config = {"template": "d", "aggregation_mode": "mask"}
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(folder))
    return str(folder)


@pytest.fixture(autouse=True)
def _counted_as_benchmarks(benchmark):
    """Every figure here is timed by hand (several per test); this keeps --benchmark-only from skipping them."""
    return benchmark


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu-models")
    return {name: build_model(root / name, shape) for name, shape in SHAPES.items()}


@pytest.fixture(scope="module")
def pairs():
    return real_pairs(max(N_PAIRS.values()))


def load(folder, precision=HALF, **kw):
    from relbert import RelBERT

    return RelBERT.from_pretrained(folder, device=str(DEVICE), precision=precision, **kw)


# --- embedding ---------------------------------------------------------------------------------
def gpu_only_seconds(model, pairs, batch_size):
    """The encoder alone on pre-tokenized batches already on the device (the ceiling)."""
    from relbert.runtime.embed_loop import CUDA_WIDTH_MULTIPLE

    ids, offsets = model.tokenizer.encode_flat(pairs)
    order = np.argsort(np.diff(offsets), kind="stable")
    batches = []
    for start in range(0, len(order), batch_size):
        host = model.tokenizer.pad_rows(ids, offsets, order[start : start + batch_size], CUDA_WIDTH_MULTIPLE)
        batches.append(model.runtime.tensors(host))

    def run():
        with torch.inference_mode():
            for tensors in batches:
                model.runtime(*tensors, normalize=True, one_position=True)

    return best_of(run)


def official_seconds(model, pairs, batch_size=64):
    """The official package's approach on the same GPU: per-pair tokenization padded to 64, fp32."""
    from relbert.templates import fill_template

    tok = model.hf_tokenizer

    def run():
        encoded = [tok(fill_template(model.template, h, t, tok.mask_token), max_length=64, truncation=True,
                       padding="max_length") for h, t in pairs]
        with torch.no_grad():
            for start in range(0, len(encoded), batch_size):
                chunk = encoded[start : start + batch_size]
                ids = torch.tensor([e["input_ids"] for e in chunk]).to(DEVICE)
                att = torch.tensor([e["attention_mask"] for e in chunk]).to(DEVICE)
                hidden = model.encoder(input_ids=ids, attention_mask=att).last_hidden_state
                ((hidden * (ids == tok.mask_token_id).unsqueeze(-1)).sum(1)).cpu().tolist()

    return best_of(run, rounds=1)


@pytest.mark.parametrize("shape", ["minilm", "large"])
def test_embed_against_the_gpu_only_ceiling(models, pairs, shape):
    n = N_PAIRS[shape]
    data = pairs[:n]
    model = load(models[shape])
    ceiling = n / gpu_only_seconds(model, data, 1024)
    record(f"{shape} {HALF}: encoder alone, pre-tokenized batches of 1024 on the device", ceiling, "pairs/s")
    for label, batch, rounds in (("default batch (token budget)", None, 2), ("batch 1024", 1024, 2), ("batch 64", 64, 1)):
        rate = n / best_of(lambda: model.embed(data, batch_size=batch), rounds=rounds)
        record(f"{shape} {HALF}: RelBERT.embed, {label}", rate, "pairs/s", "encoder alone", rate / ceiling)
    if shape == "large" and CUDA:  # does torch.compile (dynamic shapes, full forward) pay for the large encoder?
        compiled = load(models[shape], compile=True)
        rate_c = n / best_of(lambda: compiled.embed(data), rounds=2)
        eager = next(r["value"] for r in ROWS if r["figure"].endswith("RelBERT.embed, default batch (token budget)")
                     and r["figure"].startswith(shape))
        record(f"{shape} {HALF}: RelBERT.embed, compile=True, default batch", rate_c, "pairs/s", "eager default",
               rate_c / eager)
        del compiled
    fp32 = load(models[shape], precision="fp32")
    few = data[: min(n, 10_000)]
    official = len(few) / official_seconds(fp32, few)
    ours = len(few) / best_of(lambda: fp32.embed(few))
    record(f"{shape} fp32: official approach (per-pair tokenization, padded to 64)", official, "pairs/s")
    record(f"{shape} fp32: RelBERT.embed, default batch", ours, "pairs/s", "official approach", ours / official)


def test_sentence_transformers(models, pairs):
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer
    from sentence_transformers import models as st_models

    from relbert.templates import fill_template

    model = load(models["minilm"])
    prompts = [fill_template(model.template, h, t, model.hf_tokenizer.mask_token) for h, t in pairs[:N_PAIRS["minilm"]]]
    encoder = SentenceTransformer(modules=[st_models.Transformer(models["minilm"]),
                                           st_models.Pooling(model.hidden_size, "mean")], device=str(DEVICE))
    if CUDA:
        encoder.half()
    theirs = len(prompts) / best_of(lambda: encoder.encode(prompts, batch_size=1024), rounds=1)
    avg = load(models["minilm"], aggregation="average")
    ours = len(prompts) / best_of(lambda: avg.embed(pairs[: len(prompts)]))
    record("minilm: sentence-transformers encode (mean pooling), batch 1024", theirs, "pairs/s")
    record("minilm: RelBERT.embed, average pooling, default batch", ours, "pairs/s", "sentence-transformers",
           ours / theirs)


COLD = r"""
import sys, time
start = time.perf_counter()
from relbert import RelBERT
from relbert.io import read_pairs
pairs = read_pairs(sys.argv[2])
model = RelBERT.from_pretrained(sys.argv[1], device=sys.argv[3], precision=sys.argv[4])
loaded = time.perf_counter()
model.embed(pairs)
first = time.perf_counter()
model.embed(pairs)
second = time.perf_counter()
print(loaded - start, first - loaded, second - first)
"""


def test_cold_start(models, pairs, tmp_path):
    n = N_PAIRS["minilm"]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{h}\t{t}\n" for h, t in pairs[:n]), encoding="utf-8")
    cli = Path(sys.executable).with_name("relbert-embed")
    start = time.perf_counter()
    subprocess.run([str(cli), str(tsv), "-o", str(tmp_path / "out.npy"), "--model", models["minilm"],
                    "--device", str(DEVICE), "--precision", HALF, "-q"], check=True)
    wall = time.perf_counter() - start
    record(f"relbert-embed of {n} pairs, {HALF}, fresh process (wall)", wall, "s")
    out = subprocess.run([sys.executable, "-c", COLD, models["minilm"], str(tsv), str(DEVICE), HALF],
                         check=True, capture_output=True, text=True).stdout.split()
    load_s, first, second = map(float, out)
    record("fresh process: import + from_pretrained", load_s, "s")
    record(f"fresh process: first embed of {n} pairs", n / first, "pairs/s", "second call", second / first)


# --- kernels and top-k -------------------------------------------------------------------------
def test_kernels_against_torch_eager():
    from relbert.runtime import ops

    kernels = ["torch"] + (["triton"] if CUDA else [])
    b, length, h = (4096, 32, 1024) if not SMOKE else (64, 16, 32)
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(b, length, h, generator=g).to(DEVICE, torch.float16 if CUDA else torch.float32)
    mask = (torch.rand(b, length, generator=g) < 0.5).to(DEVICE)
    times = {k: best_of(lambda: ops.pool(hidden, mask, kernel=k), rounds=10) for k in kernels}
    for k, t in times.items():
        record(f"pool + normalize ({b} x {length} x {h}), {k}", t * 1e3, "ms", "torch", times["torch"] / t)
    q = 200_000 if not SMOKE else 200
    counts = torch.randint(4, 6, (q,), generator=g)
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]).to(DEVICE)
    queries = torch.randn(q, 384, generator=g).to(DEVICE)
    candidates = torch.randn(int(counts.sum()), 384, generator=g).to(DEVICE)
    times = {k: best_of(lambda: ops.analogy_scores(queries, candidates, offsets, kernel=k), rounds=10) for k in kernels}
    for k, t in times.items():
        record(f"analogy scoring ({q} questions), {k}", t * 1e3, "ms", "torch", times["torch"] / t)


@pytest.mark.parametrize("q, n, h", [(16, 4_000_000, 384), (256, 1_000_000, 1024), (1, 4_000_000, 384)])
def test_topk_against_the_bandwidth_floor(q, n, h):
    from relbert.runtime import ops

    if SMOKE:
        n = 5000
    g = torch.Generator(device=DEVICE).manual_seed(0)
    keys = torch.randn(n, h, device=DEVICE, generator=g)
    queries = torch.randn(q, h, device=DEVICE, generator=g)
    copy = best_of(lambda: keys.clone(), rounds=5)
    bandwidth = 2 * keys.numel() * 4 / copy  # read + write
    floor = keys.numel() * 4 / bandwidth  # every key read once
    variants = {"auto": lambda: ops.topk_cosine(queries, keys, 10),
                "torch tile 65536": lambda: ops.topk_cosine(queries, keys, 10, kernel="torch", chunk=65536),
                "one full matrix product": lambda: torch.topk(queries @ keys.T, 10, dim=1)}
    if CUDA:
        variants["triton tile"] = lambda: ops.topk_cosine(queries, keys, 10, kernel="triton", chunk=65536)
    tile = None
    for name, fn in variants.items():
        t = best_of(fn, rounds=5)
        tile = t if name == "torch tile 65536" else tile
        record(f"top-10 of {q} x {n} x {h} fp32, {name}", t * 1e3, "ms", "bandwidth floor", t / floor)
    record(f"top-10 of {q} x {n} x {h}: bandwidth floor ({bandwidth / 1e12:.2f} TB/s copy)", floor * 1e3, "ms")
    assert tile is not None


# --- training ----------------------------------------------------------------------------------
def test_training_step(models, pairs, tmp_path):
    from relbert.data.relsim import Relation
    from relbert.training import TrainConfig, Trainer

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_train import official_epoch

    relations = [Relation(f"p{i % 3}/r{i}", pairs[i * 110 : i * 110 + 10], pairs[i * 110 + 10 : i * 110 + 110])
                 for i in range(12 if not SMOKE else 2)]
    # the smoke run trains the tiny shape with fewer negatives: bf16 is emulated (slow) on most CPUs
    config = TrainConfig(model=models["minilm" if not SMOKE else "large"], template="d", aggregation="mask",
                         num_negative=100 if not SMOKE else 20, lr=5e-5, epochs=1, validation=[], precision="bf16")
    trainer = Trainer(config, relations, tmp_path, device=str(DEVICE), show_progress=False)
    items = trainer.objective.contrastive_items(trainer.rng)

    def ours():
        for index, (step_pairs, n) in enumerate(items):
            trainer.encoding.backward(step_pairs, trainer.objective.loss_fn(n), seed=index)
            trainer._step()

    def official():
        with torch.autocast(DEVICE.type, dtype=torch.bfloat16):
            official_epoch(trainer, items, device=DEVICE)

    theirs_s, ours_s = best_of(official, rounds=1), best_of(ours, rounds=1)
    record("training, bf16 autocast: official trainer's approach", len(items) / theirs_s, "relations/s")
    record("training, bf16 autocast: relbert Trainer", len(items) / ours_s, "relations/s", "official approach",
           theirs_s / ours_s)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write-pairs":
        chosen = real_pairs(N_PAIRS["minilm"])
        Path(sys.argv[2]).write_text("".join(f"{h}\t{t}\n" for h, t in chosen), encoding="utf-8")
        print(f"wrote {len(chosen)} pairs to {sys.argv[2]}")
    else:
        print(__doc__)
