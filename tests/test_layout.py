"""The package's shape: imports only go downward (no cycle, lazy imports included), no module imports
another's private names, modules stay short, and one module names the strategies."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cogpe"
MAX_LINES = 560  # "about 500": a module past this has more than one job


def modules() -> dict[str, ast.Module]:
    return {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): ast.parse(
            path.read_text()
        )
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _target(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` reads, for relative and absolute forms alike."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, tree: ast.Module, names: set[str]) -> set[tuple[str, str]]:
    """``(imported module, name)`` pairs of every import in ``tree``, inside functions too (lazy imports)."""
    is_package = module == "cogpe" or f"{module}.__init__" in names
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _target(module, node, is_package)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add((sub, "") if sub in names else (target, alias.name))
        elif isinstance(node, ast.Import):
            found.update((alias.name, "") for alias in node.names)
    return {(m, n) for m, n in found if m.startswith("cogpe")}


def graph() -> dict[str, set[str]]:
    trees = modules()
    names = set(trees)
    return {m: {target for target, _ in imports(m, t, names) if target in names and target != m} for m, t in trees.items()}


def test_imports_form_no_cycle():
    edges = graph()
    edges.pop("cogpe", None)  # the package's __init__ re-exports everything; nothing imports it back
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        if state.get(m) == 1:
            pytest.fail("import cycle: " + " -> ".join(path[path.index(m):] + [m]))
        if state.get(m) == 2:
            return
        state[m] = 1
        for n in sorted(edges.get(m, ())):
            visit(n, path + [m])
        state[m] = 2

    for m in sorted(edges):
        visit(m, [])


def test_no_module_imports_another_modules_private_names():
    trees = modules()
    names = set(trees)
    private = sorted(
        f"{m} imports {target}.{name}"
        for m, tree in trees.items()
        for target, name in imports(m, tree, names)
        if name.startswith("_") and target != m and name != "__version__"
    )
    assert private == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_modules_stay_short(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_one_module_names_the_strategies():
    """Strategy names are spelled out in cogpe/strategy.py alone; others import them."""
    spelled = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "strategy.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Tuple) and any(
                isinstance(e, ast.Constant) and e.value in ("ntk", "yarn", "riflex", "rope-yarn") for e in node.elts
            ):
                spelled.append(f"{path.name}:{node.lineno}")
    assert spelled == []
