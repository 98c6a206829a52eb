"""The README's Python snippet runs as printed, and loading, saving and int8 print nothing."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


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


def test_what_the_readme_blocks_write_is_ignored_by_git():
    """Every output the README's command blocks and Python snippet name (-o, save_pretrained) is
    covered by .gitignore, with the files written beside it (provenance, index), so running the
    blocks in a clone leaves `git status` clean."""
    import shutil

    import pytest

    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|text|python)\n(.*?)```", text, re.S)
    outputs = set()
    for block in blocks:
        outputs.update(re.findall(r"(?:-o|--output)\s+(\S+)", block))
        outputs.update(re.findall(r"save_pretrained\(\"([^\"]+)\"\)", block))
    outputs = {o for o in outputs if not o.startswith("-")}
    assert {"out.npy", "map.html", "clf", "labels.tsv", "run"} <= outputs, outputs
    # a name without a suffix is a folder: what goes into it is what git sees
    written = {o if Path(o).suffix else f"{o}/config.json" for o in outputs}
    written.update(f"{o}.provenance.json" for o in outputs if o.endswith(".npy"))
    proc = subprocess.run(["git", "check-ignore", "--no-index", *sorted(written)], cwd=REPO, capture_output=True,
                          text=True)
    ignored = set(proc.stdout.split())
    assert written <= ignored, sorted(written - ignored)
