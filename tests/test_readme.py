"""The README's Python snippet runs as printed, and loading, saving and int8 print nothing."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_snippet_runs_and_prints_nothing_from_dependencies(tmp_path):
    code = python_snippet()
    assert "path/or" not in code
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELBERT_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == "", proc.stderr[-3000:]  # no progress bars or warnings from transformers / onnxruntime
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "(3, 768) float32"  # relation + offset vectors: twice MiniLM's 384
    assert float(lines[-1]) > 0.9  # the int8 vector of the same pair
    assert (tmp_path / "my-relbert" / "model.safetensors").is_file()
