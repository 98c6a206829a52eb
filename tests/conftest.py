"""Shared fixtures: the packaged MiniLM (loaded once) and the shared data folder."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

# Without a GPU, Triton kernels run through Triton's interpreter (fp32, on CPU tensors). It
# must be chosen before triton is first imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

#: Shared fixtures, registered once for every test folder (no test module imports a fixture).
pytest_plugins = ["helpers.ann_collection", "helpers.download_index"]

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RELBERT_DATA", REPO.parent / "shared" / "data"))


FULL_DATA = DATA.is_dir()


@pytest.fixture(scope="session")
def fixture_data(tmp_path_factory) -> Path:
    """Small files in the layout of the data folder, made up for the tests (tests/fixtures/make_data.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_data", Path(__file__).parent / "fixtures" / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(tmp_path_factory.mktemp("fixture-data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The full benchmark data: for tests of facts of the real sets (sizes, first pairs)."""
    if not FULL_DATA:
        pytest.skip(f"full data not found at {DATA} (set RELBERT_DATA); the format tests ran on the fixture files")
    return DATA


@pytest.fixture(scope="session")
def eval_data(request) -> Path:
    """The benchmark data when present, else the small fixture files in the same layout."""
    return DATA if FULL_DATA else request.getfixturevalue("fixture_data")


@pytest.fixture(scope="session")
def minilm_path() -> str:
    from relbert.models.loading import default_model_path

    return default_model_path()


@pytest.fixture(scope="session")
def minilm(minilm_path):
    from relbert import RelBERT

    return RelBERT.from_pretrained(minilm_path, device="cpu")


@pytest.fixture(scope="session")
def default_model():
    """The embedded default (the shipped fine-tuned model when the package carries one), fp32: the
    reference (``precision="auto"`` may choose bf16 on a CPU with native bf16)."""
    from relbert import RelBERT

    return RelBERT.from_pretrained(device="cpu", precision="fp32")


@pytest.fixture(scope="session")
def hf_minilm_tokenizer(minilm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


def analogy_pairs(data_dir: Path, limit: int | None = None):
    """Every distinct pair of the analogy files, sorted (deterministic)."""
    pairs = set()
    for path in sorted((data_dir / "analogy").glob("*/*.jsonl")):
        for line in path.open(encoding="utf-8"):
            record = json.loads(line)
            pairs.add(tuple(record["stem"]))
            pairs.update(tuple(c) for c in record["choice"])
    pairs = sorted(pairs)
    return pairs if limit is None else pairs[:: max(1, len(pairs) // limit)][:limit]


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> str:
    from helpers.tiny_model import build_tiny_bert

    return str(build_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))


def all_data_pairs(data_dir: Path):
    """Every distinct pair of every analogy and lexical-relation file, in both orders."""
    pairs = set(analogy_pairs(data_dir))
    for path in sorted((data_dir / "lexical_relation").rglob("*")):
        if path.suffix == ".tsv" or path.name == "gold_task2.txt":
            for line in path.read_text(encoding="utf-8").splitlines():
                fields = line.split("\t")
                if len(fields) == 3:
                    pairs.add((fields[0], fields[1]))
    pairs |= {(t, h) for h, t in pairs}
    return sorted(p for p in pairs if p[0].strip() and p[1].strip())


@pytest.fixture()
def good_tsv(tmp_path):
    path = tmp_path / "good.tsv"
    path.write_text("paris\tfrance\ndog\tbark\n", encoding="utf-8")
    return path


@pytest.fixture()
def tiny_collection(tmp_path, tiny_model_path):
    """A tiny-model collection with a repeated pair."""
    tsv = tmp_path / "c.tsv"
    tsv.write_text("paris\tfrance\ntokyo\tjapan\nparis\tfrance\ndog\tbark\ncat\tmeow\n", encoding="utf-8")
    out = tmp_path / "c.npy"
    from click.testing import CliRunner
    from relbert.cli import embed

    result = CliRunner().invoke(embed, [str(tsv), "-o", str(out), "--model", tiny_model_path, "-q"])
    assert result.exit_code == 0, result.output
    return tsv, out
