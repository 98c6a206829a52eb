"""Every command of the ``bash`` blocks of the README and of docs/ runs as printed (from a fresh folder
holding the repository's examples, on the fixture files of tests/fixtures/make_data.py, training shortened
to one epoch), and their usage lines name only options that exist."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
#: The README first (its first two blocks are the fresh-machine commands), then docs/ by name.
DOCUMENTS = [README] + sorted((REPO / "docs").glob("*.md"))

#: Commands this test does not run, and why (each is run elsewhere).
NOT_RUN = {
    "pip install": "installs the package: CI installs it on a fresh machine with the same commands (.ci/run)",
    "python -m pytest -q": "the test suite itself (CI runs it)",
    "cmake ": "the C++ build and its ctest run (CI runs them)",
    "ctest ": "the C++ build and its ctest run (CI runs them)",
    "python -m pytest bench/ --benchmark-only": "every benchmark, minutes long (bench_gpu.py's own block runs here)",
}
#: Set to 1 to run the blocks that train relbert-mpnet (an epoch of a 110M encoder on the CPU).
SLOW_DOCS = "RELBERT_SLOW_DOCS"
#: Shortened here (the README says so): one epoch of training instead of the recipe's.
SHORTER = [(re.compile(r"--epochs \d+"), "--epochs 1")]


def bash_blocks():
    """``(where, text)`` of every fenced ``bash`` block of the README and docs/ (where:
    ``FILE:LINE`` of its first line; the README's only ``LINE``)."""
    blocks = []
    for document in DOCUMENTS:
        name = "" if document == README else f"{document.relative_to(REPO)}:"
        blocks += [(f"{name}{line}" if name else line, text) for line, text in _blocks_of(document)]
    return blocks


def _blocks_of(document: Path):
    blocks, current, start = [], None, 0
    for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            if current is None:
                current, start = ([] if line.strip() == "```bash" else False), number
            else:
                if current is not False:
                    blocks.append((start, "\n".join(current)))
                current = None
        elif current:
            current.append(line)
        elif current == []:
            current.append(line)
    return blocks


def runnable(block: str):
    """The block as a script: continuation lines joined, the parts NOT_RUN names dropped."""
    script = block.replace("\\\n", " ")
    kept, dropped = [], []
    for line in script.splitlines():
        parts = [p.strip() for p in line.split(" && ")]
        keep = [p for p in parts if not any(p.startswith(prefix) for prefix in NOT_RUN)]
        dropped += [p for p in parts if p not in keep]
        if keep:
            command = " && ".join(keep)
            for pattern, replacement in SHORTER:
                command = pattern.sub(replacement, command)
            kept.append(command)
    return "\n".join(kept), dropped


BLOCKS = bash_blocks()


def test_the_readme_has_its_commands():
    assert len(BLOCKS) >= 7
    first, second = BLOCKS[0][1], BLOCKS[1][1]
    assert "relbert-embed examples/pairs.tsv -o out.npy" in first and "python -m pytest -q" in second


def test_ci_runs_the_readme_test_command():
    """.ci/run ends with the README's test command, as printed (both are what a fresh machine runs)."""
    readme_command = BLOCKS[1][1].split("&&")[-1].strip()
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1].strip() == readme_command


@pytest.mark.parametrize("line, block", BLOCKS, ids=[f"line{n}" if isinstance(n, int) else n for n, _ in BLOCKS])
def test_readme_block_runs_as_printed(line, block, tmp_path, fixture_data):
    from relbert.models.named import is_fetched

    script, dropped = runnable(block)
    for part in dropped:
        assert any(part.startswith(prefix) for prefix in NOT_RUN), part
    if not script.strip():  # every command here is one of NOT_RUN's, each run elsewhere (checked above)
        assert dropped
        return
    if "relbert-mpnet" in script and not is_fetched("relbert-mpnet"):
        pytest.skip("needs the relbert-mpnet base (relbert-download relbert-mpnet; CI does not fetch it)")
    if "relbert-mpnet" in script and "relbert-train" in script and not os.environ.get(SLOW_DOCS):
        pytest.skip(f"trains the 110M relbert-mpnet for an epoch (16-37 min on 2 CPU cores, past this test's 15 min): "
                    f"{SLOW_DOCS}=1 runs it")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    (tmp_path / "bench").symlink_to(REPO / "bench")
    # without pytest-xdist's worker variables (pytest-benchmark would disable itself in a child pytest)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}, "RELBERT_DATA": str(fixture_data),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"README line {line}:\n{script}\n--- stderr:\n{proc.stderr[-3000:]}"


def test_usage_lines_name_only_real_options():
    """Every --option in the README's usage blocks (```text) exists in that command's --help."""
    import click

    from relbert import cli

    commands = {"relbert-embed": cli.embed, "relbert-train": cli.train, "relbert-search": cli.search,
                "relbert-index": cli.index, "relbert-plot": cli.plot,
                "relbert-download": cli.download, **{f"relbert-eval {n}": c for n, c in cli.evaluate.commands.items()}}
    text = "\n".join(document.read_text(encoding="utf-8") for document in DOCUMENTS)
    usage = re.findall(r"```text\n(.*?)```", text, re.S)
    checked = 0
    for block in usage:
        for entry in re.split(r"\n(?=relbert-)", block):
            name = next((c for c in sorted(commands, key=len, reverse=True) if entry.startswith(c)), None)
            if name is None:
                continue
            known = {opt for p in commands[name].params if isinstance(p, click.Option) for opt in p.opts}
            for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", entry):
                assert option in known, f"{name}: README names {option}, which --help does not list"
                checked += 1
    assert checked >= 20
