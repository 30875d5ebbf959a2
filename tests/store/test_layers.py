"""The case store depends on the domain alone: no module of `store/` imports the service's
other layers (the API, workflows, activities, infra), so none of them can close an import
loop through it. Alembic's `migrations/env.py` is a program of its own (like `worker.py`, it
reads the settings), never imported by the service."""

from __future__ import annotations

import ast
from pathlib import Path

STORE = Path(__file__).resolve().parents[2] / "store"
OTHER_LAYERS = {"api", "activities", "workflows", "infra", "worker", "bench", "dev"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_store_module_imports_another_layer_of_the_service() -> None:
    modules = sorted(path for path in STORE.rglob("*.py") if "migrations" not in path.parts)
    assert modules
    crossing = {
        str(path.relative_to(STORE)): sorted(imported_packages(path) & OTHER_LAYERS)
        for path in modules
        if imported_packages(path) & OTHER_LAYERS
    }
    assert crossing == {}
