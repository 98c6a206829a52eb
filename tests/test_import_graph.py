"""The package's shape, read from the AST: every import (at module level or inside functions) goes
to the same layer or a lower one (no upward import), the module graph has no cycle, and no module
is over 300 lines. The layers, lowest first, are the map of docs/architecture.md."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "relbert"

#: Lowest first: a module may import its own layer's modules and lower layers' only.
LAYERS = (
    ("relbert.errors", "relbert.version", "relbert.home", "relbert.progress", "relbert.templates", "relbert.offsets"),
    ("relbert.io", "relbert.atomic", "relbert.lock", "relbert.kernels", "relbert._C"),
    ("relbert.runtime", "relbert.tokenization"),
    ("relbert.models", "relbert.data"),
    ("relbert.embedding",),
    ("relbert.model",),
    ("relbert.evaluation", "relbert.search", "relbert.plot"),
    ("relbert.training",),
    ("relbert.cli",),
    ("relbert",),  # the package's lazy facade: imported by users, never from inside
)
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The layer of the longest prefix of ``module`` that the table names."""
    best, found = -1, None
    for level, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, found = len(name), level
    if found is None:
        raise AssertionError(f"{module} is in no layer of tests/test_import_graph.py: place it there")
    return found


def imports_of(path: Path, name: str, source=None):
    """``(target module, line, inside a function)`` of each relbert import of one module."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != "relbert" and not target.startswith("relbert."):
                continue
            for alias in node.names:  # a submodule by name, else a name from the module
                yield (f"{target}.{alias.name}" if _exists(f"{target}.{alias.name}") else target), node.lineno, \
                    id(node) in inner
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "relbert" or alias.name.startswith("relbert."):
                    yield alias.name, node.lineno, id(node) in inner


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file() \
        or module in ("relbert.kernels", "relbert._C")


def modules():
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def import_graph(module_level_only: bool = False):
    found = modules()
    graph = {name: set() for name in found}
    for name, path in found.items():
        for target, _, inner in imports_of(path, name):
            if target in found and target != name and not (module_level_only and inner):
                graph[name].add(target)
    return graph


def find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_graph_is_read():
    graph = import_graph()
    assert "relbert.runtime.interface" in graph["relbert.model"]
    assert "relbert.runtime.torch_runtime" in graph["relbert.runtime.onnx_runtime"]
    assert "relbert.embedding.run" in graph["relbert.training.distill"]  # an import inside a function
    assert "relbert.version" in graph["relbert.io"]


def test_no_upward_import():
    """A layer imports its own and lower layers only (``relbert.models.delta`` importing
    ``relbert.model`` would be an upward import: models/ is below the model)."""
    upward = []
    for name, path in modules().items():
        if name == "relbert":
            continue
        mine = layer_of(name)
        for target, line, _ in imports_of(path, name):
            if layer_of(target) > mine:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} imports {target} (a higher layer)")
    assert upward == [], "\n".join(upward)


def test_no_import_cycle():
    """No cycle among the modules (the facade ``relbert`` aside: it imports lazily, on attribute access)."""
    graph = {k: {t for t in v if t != "relbert"} for k, v in import_graph().items() if k != "relbert"}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_no_module_over_300_lines():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, long


@pytest.mark.parametrize("source, expected", [
    ("from ..model import RelBERT\n", "relbert.model"),
    ("def f():\n    from .. import model\n", "relbert.model"),
    ("from ..errors import UserError\n", "relbert.errors"),
    ("from .loading import resolve\n", "relbert.models.loading"),
])
def test_the_reader_sees_relative_imports_at_any_depth(source, expected):
    """The checker itself: a module of relbert/models (layer 3) importing these is read right, and
    the model (above models/) counts as upward."""
    found = [t for t, _, _ in imports_of(PACKAGE / "models" / "probe.py", "relbert.models.probe", source)]
    assert found == [expected]
    assert (layer_of(expected) > layer_of("relbert.models.probe")) == (expected == "relbert.model")
