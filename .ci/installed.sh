#!/usr/bin/env bash
# What users get: the wheel of this checkout, installed (not editable) into a fresh venv, run from
# a folder outside the clone. Usage: .ci/installed.sh WHEEL VENV [CONSTRAINTS]
#   CONSTRAINTS: a pip constraints file (the oldest admitted versions, .ci/oldest.txt); without
#   it pip takes the newest releases the index serves.
set -euo pipefail
wheel=$(realpath "$1"); venv=$2; constraints=${3:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
pin=(); [ -n "$constraints" ] && pin=(-c "$(realpath "$constraints")")

python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q torch==2.13.0                        # the local CPU wheel first
"$py" -m pip install -q "${pin[@]}" "$wheel" pytest pytest-xdist gensim
echo "installed (${constraints:-newest releases}):"
"$py" -m pip list 2>/dev/null | grep -iE '^(torch|transformers|tokenizers|numpy|onnxruntime|onnx|safetensors|click|scikit-learn|huggingface.hub|kernels) ' | sed 's/^/  /'

work=$(mktemp -d); cd "$work"
cp "$repo/examples/pairs.tsv" "$repo/tests/fixtures/analogy.jsonl" .
export PATH="$venv/bin:$PATH"

# The README's first command (its install part is the wheel above).
relbert-embed pairs.tsv -o out.npy
"$py" -c "import numpy; a = numpy.load('out.npy'); assert a.shape[0] == $(wc -l < pairs.tsv) and numpy.isfinite(a).all(), a.shape"

# Every module of the installed package imports (the kernels need Triton: skipped without it).
"$py" - <<'EOF'
import importlib, importlib.util, pkgutil, sys
import relbert
assert "site-packages" in relbert.__file__, relbert.__file__
triton = importlib.util.find_spec("triton") is not None
names = [m.name for m in pkgutil.walk_packages(relbert.__path__, "relbert.")
         if not m.name.endswith("__main__") and (triton or not m.name.startswith("relbert.kernels."))]
for name in names:
    importlib.import_module(name)
print(f"imported {len(names)} modules of {relbert.__file__}")
EOF

relbert-eval analogy --dataset analogy.jsonl -q -o eval.json
"$py" -c "import json; r = json.load(open('eval.json')); print('analogy on the fixture:', r if len(str(r)) < 300 else 'ok')"

# A named smoke subset of the tests against the installed package: tests/helpers on the path,
# never the clone's root (importlib mode inserts nothing), run from the folder outside the clone.
SMOKE=(
  tests/test_import_light.py::test_cpu_path_without_triton   # import stays light, embed works
  tests/test_tokenization.py          # the wheel's compiled relbert._C gives the HF tokenizers' ids
  tests/models/test_shipped_default.py   # the packaged default and its delta
  tests/models/test_model_folders.py     # one line for every broken model folder
  tests/cli/test_cli_embed.py            # the console script, formats, resume
)
PYTHONPATH="$repo/tests" "$py" -m pytest -q -p no:cacheprovider --import-mode=importlib --rootdir "$work" \
  -c "$repo/pyproject.toml" -n 2 --dist loadfile "${SMOKE[@]/#/$repo/}"
