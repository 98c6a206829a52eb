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
    for room in ("runtime", "models", "search", "training", "evaluation", "data", "cli", "embedding", "tokenization"):
        init = PACKAGE / room / "__init__.py"
        assert init.is_file() and '"""' in init.read_text(encoding="utf-8"), f"relbert/{room}/__init__.py has no docstring"


def reexports(path: Path):
    """Names a module imports from relbert and never uses (read from the AST): re-exports."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {n.value.id for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
    found = []
    for node in tree.body:  # module level: what another module could import from here
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("relbert")):
            found += [f"{path.name}:{node.lineno} {a.asname or a.name}" for a in node.names
                      if (a.asname or a.name) not in used and a.name != "annotations"]
    return found


def test_names_are_imported_from_their_home():
    """No module re-exports another's names (read from the AST: a relbert name imported at module
    level and never used), except the package facades' ``__init__.py`` with their ``__all__``."""
    found = [r for p in _package_sources() if p.name != "__init__.py" for r in reexports(p)]
    assert found == [], found
    facades = [p for p in _package_sources() if p.name == "__init__.py" and reexports(p)]
    assert all("__all__" in p.read_text(encoding="utf-8") for p in facades), facades


def test_the_reexport_reader_sees_one(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from .errors import UserError, OptionError\n\ndef f():\n    raise OptionError('x')\n")
    assert reexports(probe) == ["probe.py:1 UserError"]


def _calls(path: Path):
    import ast

    return [n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.Call)]


def rename_sites(path: Path):
    """Lines of ``path`` that give a file or folder a new name, read from the AST: ``os.replace``,
    ``os.rename``, ``shutil.move``, and ``X.rename(target)`` / ``X.replace(target)`` with one
    argument (``pathlib.Path``'s; ``str.replace`` takes two)."""
    import ast

    sites = []
    for call in _calls(path):
        func = call.func
        if not isinstance(func, ast.Attribute):
            continue
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        if (owner == "os" and func.attr in ("replace", "rename")) or (owner == "shutil" and func.attr == "move") or \
                (owner not in ("os", "shutil") and func.attr in ("rename", "replace") and len(call.args) == 1
                 and not call.keywords):
            sites.append(call.lineno)
    return sites


def test_one_error_path_and_one_place_for_each_rename():
    """Commands raise UserError subclasses (no fail() helper in relbert/cli); files and folders take
    their final names in relbert/atomic.py only (read from the AST, Path.replace included)."""
    import ast

    cli = [p.name for p in (PACKAGE / "cli").glob("*.py")
           if any(isinstance(c.func, ast.Name) and c.func.id == "fail" for c in _calls(p))]
    assert cli == [], cli
    sites = [f"{p.relative_to(REPO)}:{line}" for p in _package_sources() for line in rename_sites(p)
             if p.name != "atomic.py" or p.parent != PACKAGE]
    assert sites == [], sites


def test_the_rename_reader_sees_each_spelling(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os, shutil\nos.replace(a, b)\npath.replace(target)\nPath(a).rename(b)\n"
                     "shutil.move(a, b)\nname.replace('a', 'b')\n", encoding="utf-8")
    assert rename_sites(probe) == [2, 3, 4, 5]


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
