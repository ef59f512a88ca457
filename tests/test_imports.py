"""gendl's import graph has no circle, and every module imports on its own.

A circle (a -> b -> a, also through imports inside functions) makes import order matter and
hides which layer depends on which; the evaluators, the feature extractors and the run
loader were one until loading a run moved to gendl.evaluation.runs."""

import ast
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gendl"


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name, path):
    """The gendl modules `name` imports anywhere in its code (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # `from gendl.x import y`: y is a module when gendl/x/y.py exists, else a name in x.
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        out.update(t for t in targets if t in MODULES and t != name)
    return out


def _graph():
    return {name: _imports(name, path) for name, path in MODULES.items()}


def _circles(graph):
    """The import circles: strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return set(out)


# The data layer's raw-file reader and TFDS builders import gendl.data.source's error classes,
# and source imports the builders inside its functions (so that code needing only the errors
# does not pay for importing TFDS): a deliberate, lazily broken circle inside one package.
KNOWN = {frozenset({"gendl.data.source", "gendl.data.builders", "gendl.data.idx"})}


def test_the_import_graph_has_no_circle():
    circles = _circles(_graph()) - KNOWN
    assert not circles, "import circles: " + "; ".join(" <-> ".join(sorted(c)) for c in circles)


def test_the_circle_check_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == {frozenset("abc")}
    assert _circles({"a": {"b"}, "b": set()}) == set()
    # The circle this test guards against: evaluators -> extractors -> workdir -> evaluators.
    graph = _graph()
    graph["gendl.evaluation.extractors"] = graph["gendl.evaluation.extractors"] | {
        "gendl.evaluation.workdir"
    }
    assert any("gendl.evaluation.evaluators" in c for c in _circles(graph) - KNOWN)


def test_the_graph_sees_imports_inside_functions():
    graph = _graph()
    assert "gendl.evaluation.runs" in graph["gendl.evaluation.extractors"]
    assert "gendl.config" in graph["gendl.objectives"]  # imported inside build()
    assert "gendl.data.builders" in graph["gendl.data.source"]  # inside functions only


@pytest.mark.parametrize(
    "name",
    [
        "gendl.evaluation.extractors",
        "gendl.evaluation.runs",
        "gendl.evaluation.evaluators",
        "gendl.cli",
    ],
)
def test_module_imports_alone_in_a_fresh_interpreter(name):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    r = subprocess.run(
        [sys.executable, "-c", f"import {name}"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-2000:]
