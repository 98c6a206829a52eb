"""Repository hygiene: source, docs, small fixtures and the shipped deltas; never an archive or a
downloaded tool (install those instead)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".egg", ".tar.bz2", ".tar.xz")


def tracked_files():
    try:
        out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return out.splitlines()


def test_no_archive_is_tracked_outside_the_fixtures():
    archives = [f for f in tracked_files() if f.endswith(ARCHIVES) and not f.startswith("tests/fixtures/")]
    assert archives == [], f"archives are tracked (install tools, never commit them): {archives}"


PACKAGE = REPO / "relbert"


def _package_sources():
    return [p for p in PACKAGE.rglob("*.py") if "kernels" not in p.relative_to(PACKAGE).parts[:1]]


def _class_lines(path: Path, name: str) -> int:
    import ast

    node = next(n for n in ast.parse(path.read_text(encoding="utf-8")).body if isinstance(n, ast.ClassDef) and n.name == name)
    return node.end_lineno - node.lineno + 1


def test_the_package_is_grouped_by_concern():
    """At most 12 modules at relbert/'s top level; each room is a subpackage that says what it holds."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top
    for room in ("runtime", "models", "search", "training", "evaluation", "data", "cli"):
        init = PACKAGE / room / "__init__.py"
        assert init.is_file() and '"""' in init.read_text(encoding="utf-8"), f"relbert/{room}/__init__.py has no docstring"


def test_names_are_imported_from_their_home():
    """No noqa re-export lists: at most 3 'noqa: F401' lines (imports made for their side effect), none E402."""
    lines = [(p, line) for p in _package_sources() for line in p.read_text(encoding="utf-8").splitlines()]
    f401 = [f"{p.relative_to(REPO)}: {line.strip()}" for p, line in lines if "noqa: F401" in line or "noqa: E402,F401" in line]
    e402 = [f"{p.relative_to(REPO)}: {line.strip()}" for p, line in lines if "E402" in line]
    assert len(f401) <= 3 and not e402, f401 + e402


def test_one_error_path_and_one_place_for_each_rename():
    """Commands raise UserError subclasses (no fail() helper in relbert/cli); files and folders take
    their final names in relbert.io only (os.replace / os.rename: at most 3 sites in the package)."""
    import re

    cli = [p for p in (PACKAGE / "cli").glob("*.py") if re.search(r"(?<![\w.])fail\(", p.read_text(encoding="utf-8"))]
    assert cli == [], cli
    sites = [f"{p.relative_to(REPO)}:{i}" for p in _package_sources()
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\bos\.(replace|rename)\(|\.rename\(", line)]
    assert len(sites) <= 3, sites


def test_the_central_classes_stay_small():
    """RelBERT (loading, saving and batch planning live elsewhere) <= 220 lines; Trainer (encoding,
    objective and the run's life in their own modules) <= 250."""
    assert _class_lines(PACKAGE / "model.py", "RelBERT") <= 220
    assert _class_lines(PACKAGE / "training" / "trainer.py", "Trainer") <= 250


def test_lint_is_clean():
    """ruff (pyflakes and pycodestyle's error rules, pyproject.toml) finds nothing in relbert/,
    tests/, bench/ or tools/: unused imports, names redefined, fixtures imported across modules."""
    import shutil
    import subprocess

    import pytest

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it is in the test extra)")
    proc = subprocess.run([ruff, "check", "relbert", "tests", "bench", "tools"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
