"""A CPU-only install: importing and using relbert never imports Triton or touches CUDA."""
import subprocess
import sys

#: Makes ``import triton`` fail in the child process, as on a machine without it.
BLOCK_TRITON = r"""
import sys, importlib.abc

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "triton" or name.startswith("triton."):
            raise ImportError("triton is blocked in this test")

sys.meta_path.insert(0, Block())
"""

SCRIPT = BLOCK_TRITON + r"""
import relbert
assert "torch" not in sys.modules, "import relbert must stay light"
from relbert import RelBERT
model = RelBERT.from_pretrained(device="cpu")
v = model.embed([("paris", "france"), ("dog", "bark")])
import torch
assert v.shape == (2, model.dimension)
assert not torch.cuda.is_initialized()
assert "relbert.kernels" not in sys.modules
# the embed path needs none of these (each costs import time on a cold start)
heavy = [m for m in ("onnxruntime", "onnx", "sklearn", "click", "peft", "gensim", "faiss", "relbert.evaluation",
                     "relbert.training", "relbert.embedding.run", "relbert.cli", "relbert.search.exact") if m in sys.modules]
assert not heavy, heavy
print("ok")
"""


def test_cpu_path_without_triton():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


CHECKOUT_SCRIPT = BLOCK_TRITON + r"""
try:
    import kernels  # as transformers imports it: Hugging Face's distribution, never the checkout's folder
except ModuleNotFoundError:
    pass
else:
    assert "site-packages" in kernels.__file__, kernels.__file__
from transformers import BertModel
from relbert import RelBERT
print(RelBERT.from_pretrained(device="cpu").embed([("paris", "france")]).shape, "ok")
"""


def test_a_source_checkout_without_triton_loads_models():
    """From the repository root (first on sys.path) models load without Triton, and the name
    ``kernels`` that transformers imports is Hugging Face's distribution, not the kernels/ folder."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", CHECKOUT_SCRIPT], capture_output=True, text=True, timeout=300,
                          cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
