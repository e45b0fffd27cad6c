"""Import hygiene, read from the source with ``ast`` (function-level imports included).

- no import cycle between modules;
- no private name (leading underscore) imported from another module;
- importing by string name (``importlib.import_module``, ``__import__``) only in ``core/plugins.py``;
- the direction of imports: nothing in core/, profilers/, checks/ or app/ imports baseline_model;
  incidents/ only for scoring and training a model (shadow evaluation, retrain).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "checks", "incidents", "profilers", "app", "baseline_model")
PLUGIN_MODULE = "core.plugins"
# incidents/ modules that may import baseline_model until the adapter covers them.
BASELINE_MODEL_ALLOWED = {"incidents.shadow", "incidents.retrain"}
NEVER_IMPORT_BASELINE_MODEL = ("core", "profilers", "checks", "app")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (resolved to a module that exists)
    names: tuple[str, ...]  # names taken from it (from-imports)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


MODULES = {module_name(p): p for p in source_files()}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node, skipping ``if TYPE_CHECKING:`` blocks (never run)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def _resolve(name: str) -> str | None:
    """The deepest project module a dotted name refers to (None: not ours)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    out: list[Import] = []
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name)
                if target:
                    out.append(Import(module, target, (), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            for alias in node.names:
                # `from pkg import sub` imports the submodule pkg.sub when there is one.
                target = _resolve(f"{base}.{alias.name}") if f"{base}.{alias.name}" in MODULES else _resolve(base)
                if target:
                    out.append(Import(module, target, (alias.name,), node.lineno))
    return out


ALL_IMPORTS = [imp for m in sorted(MODULES) for imp in imports_of(m)]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in ALL_IMPORTS:
        if imp.target != imp.module:
            graph[imp.module].add(imp.target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def _cycle_path(graph: dict[str, set[str]], component: list[str]) -> str:
    """One concrete cycle inside a component, for the failure message."""
    members = set(component)
    start = component[0]
    path = [start]
    seen = {start}
    node = start
    while True:
        nxt = sorted(graph[node] & members)
        step = next((n for n in nxt if n == start and len(path) > 1), None) or next((n for n in nxt if n not in seen), None)
        if step is None or step == start:
            return " -> ".join([*path, start])
        path.append(step)
        seen.add(step)
        node = step


def test_the_walker_sees_function_level_and_relative_imports():
    # incidents.heartbeat imports incidents.alerts inside a function.
    assert any(i.target == "incidents.alerts" for i in imports_of("incidents.heartbeat"))
    assert len(MODULES) > 100 and "core.plugins" in MODULES
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert _cycle_path(graph, ["a", "b", "c"]) == "a -> b -> c -> a"


def test_no_import_cycle_between_modules():
    graph = _graph()
    cycles = [_cycle_path(graph, c) for c in strongly_connected(graph)]
    assert not cycles, "import cycles (function-level imports included):\n" + "\n".join(cycles)


def test_no_private_name_imported_across_modules():
    found = [
        f"{imp.module}:{imp.line} imports {name} from {imp.target}"
        for imp in ALL_IMPORTS
        for name in imp.names
        if name.startswith("_") and not name.startswith("__") and imp.target != imp.module
    ]
    assert not found, "private names imported across modules (make them public or move them):\n" + "\n".join(found)


def _dynamic_imports(module: str) -> Iterator[str]:
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "importlib" for a in node.names):
            yield f"{module}:{node.lineno} import importlib"
        elif isinstance(node, ast.ImportFrom) and node.module == "importlib":
            bad = [a.name for a in node.names if a.name in ("import_module", "__import__", "reload")]
            if bad:
                yield f"{module}:{node.lineno} from importlib import {', '.join(bad)}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            yield f"{module}:{node.lineno} __import__(...)"


def test_imports_by_string_name_only_in_the_plugin_module():
    found = [line for m in sorted(MODULES) if m != PLUGIN_MODULE for line in _dynamic_imports(m)]
    assert not found, "import by string name outside core/plugins.py (use core.plugins.load):\n" + "\n".join(found)


@pytest.mark.parametrize("package", NEVER_IMPORT_BASELINE_MODEL)
def test_generic_packages_never_import_the_example_model(package):
    found = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if imp.module.split(".")[0] == package and imp.target.split(".")[0] == "baseline_model"
    ]
    assert not found, f"{package}/ must not import baseline_model:\n" + "\n".join(found)


def test_incidents_imports_the_example_model_only_to_score_and_train():
    found = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if imp.module.split(".")[0] == "incidents"
        and imp.target.split(".")[0] == "baseline_model"
        and imp.module not in BASELINE_MODEL_ALLOWED
    ]
    assert not found, "incidents/ imports baseline_model outside shadow evaluation and retrain:\n" + "\n".join(found)
