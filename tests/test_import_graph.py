"""The package's import graph (every relative import, at module level or inside functions) has
no cycle: arrows point one way, CLI -> model/training/evaluation -> tokenization/ops -> kernels."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "relbert"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph():
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names]
                hits = [n for n in names if n in modules]
                if node.module and not hits and target in modules:  # names from a module (not submodules)
                    hits = [target]
                graph[name].update(h for h in hits if h != name)
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
    assert "relbert.model" in graph and "relbert.runtime.interface" in graph["relbert.model"]
    assert "relbert.runtime.torch_runtime" in graph["relbert.runtime.interface"] and "relbert.runtime.torch_runtime" in graph["relbert.runtime.onnx_runtime"]
    assert "relbert.model" in graph["relbert.cli.common"] or "relbert.model" in graph["relbert.training"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)
