"""The engine's structure: no import cycle between modules, every method registered."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import tessella
import tessella.models
from tessella.models.interface import Imputer
from tessella.models.registry import registered_methods

PACKAGE = Path(tessella.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runs_at_import(tree: ast.Module):
    """Import statements executed when the module is imported: at module level,
    outside ``if TYPE_CHECKING:`` blocks (annotations only)."""
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            yield from (n for n in node.body if isinstance(n, (ast.Import, ast.ImportFrom)))
        elif isinstance(node, ast.Try):
            yield from (n for n in node.body if isinstance(n, (ast.Import, ast.ImportFrom)))


def import_graph() -> dict[str, set[str]]:
    """Module -> modules whose code runs when it is imported. Importing ``a.b.c``
    runs ``a`` and ``a.b`` (their ``__init__``) too, except the packages that
    contain the importer: those are already being imported when it runs."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in _runs_at_import(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                wanted = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                          for alias in node.names]
            for target in wanted:
                parts = target.split(".")
                targets |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if path.name == "__init__.py":
            own.add(name)
        graph[name] = {t for t in targets if t in modules and t not in own}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules along it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_module_import_graph_has_no_cycle():
    graph = import_graph()
    assert "tessella.models.registry" in graph["tessella.models.refine"]
    assert "tessella.models" not in graph["tessella.train"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_sees_a_cycle_through_a_package_init():
    graph = {"p": {"p.a"}, "p.a": {"q"}, "q": {"p"}}
    assert find_cycle(graph) == ["p", "p.a", "q", "p"]


def test_every_imputer_under_models_is_registered():
    registered = set(registered_methods().values())
    defined = []
    for info in pkgutil.walk_packages(tessella.models.__path__, "tessella.models."):
        module = importlib.import_module(info.name)
        defined += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                    if issubclass(cls, Imputer) and cls.__module__ == info.name
                    and not inspect.isabstract(cls) and "name" in vars(cls)]
    assert len(defined) >= 10
    missing = [cls.__qualname__ for cls in defined if cls not in registered]
    assert not missing, f"not registered (import its module in models/__init__.py): {missing}"
