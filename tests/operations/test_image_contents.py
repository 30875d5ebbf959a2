"""The production image holds the service and none of the development tooling.

The image installs the project with `pip install .`, which ships the packages that
pyproject.toml's `[tool.setuptools.packages.find]` names, and keeps the source that
.dockerignore lets through. Development-only code (`make run`'s launcher, the test and bench
harness, the demo directory, development tokens) lives in dev/, outside both.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from setuptools import find_namespace_packages, find_packages

from tests.operations.compose_file import dockerfile_instructions, excluded_by_dockerignore

ROOT = Path(__file__).resolve().parents[2]
SERVICE_PACKAGES = {"domain", "store", "workflows", "activities", "api", "infra"}


def setuptools_config() -> dict[str, Any]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    config: dict[str, Any] = pyproject["tool"]["setuptools"]
    return config


def shipped_packages() -> list[str]:
    """The packages `pip install .` puts in the image, found as setuptools finds them."""
    find = setuptools_config()["packages"]["find"]
    finder = find_namespace_packages if find.get("namespaces", True) else find_packages
    packages: list[str] = finder(
        where=str(ROOT / find.get("where", ["."])[0]),
        include=find.get("include", ["*"]),
        exclude=find.get("exclude", []),
    )
    return packages


def shipped_modules() -> Iterator[tuple[str, Path]]:
    """Every module the image installs, by dotted name, with its source file."""
    for package in shipped_packages():
        folder = ROOT.joinpath(*package.split("."))
        for source in sorted(folder.glob("*.py")):
            name = package if source.stem == "__init__" else f"{package}.{source.stem}"
            yield name, source
    for module in setuptools_config().get("py-modules", []):
        yield module, ROOT / f"{module}.py"


def is_dev_only(module: str) -> bool:
    """Named like development tooling: dev code, the harness, demo data, token tools."""
    return any(
        part == "dev" or part.startswith(("dev_", "demo")) or part == "harness" or "token" in part
        for part in module.split(".")
    )


def imported_roots(source: Path) -> set[str]:
    """The top-level names a module imports absolutely (relative imports stay in its package)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def repository_roots() -> set[str]:
    """The project's own top-level packages and modules, shipped or not."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    return packages | {p.stem for p in ROOT.glob("*.py")}


def test_the_image_ships_the_service_packages_and_no_development_code() -> None:
    packages = shipped_packages()
    assert set(packages) >= SERVICE_PACKAGES, packages
    dev_only = [name for name, _ in shipped_modules() if is_dev_only(name)]
    assert not dev_only, f"development-only code in the image's packages: {dev_only}"


def test_no_shipped_module_imports_code_the_image_leaves_out() -> None:
    shipped_roots = {name.split(".")[0] for name, _ in shipped_modules()}
    own = repository_roots()
    assert "dev" in own and "dev" not in shipped_roots
    for name, source in shipped_modules():
        left_out = (imported_roots(source) & own) - shipped_roots
        assert not left_out, f"{name} imports {sorted(left_out)}, which the image does not ship"


def test_the_docker_build_leaves_the_dev_folder_out() -> None:
    for path in ("dev", "dev/__init__.py", "dev/harness/ports.py", "dev/token.py"):
        assert excluded_by_dockerignore(path), f".dockerignore lets {path} into the image"
    for keyword, rest in dockerfile_instructions():
        if keyword in {"COPY", "ADD"}:
            sources = [word for word in rest.split() if not word.startswith("--")][:-1]
            named = [s for s in sources if s.strip("./").split("/")[0] == "dev"]
            assert not named, f"{keyword} {rest} copies dev/ into the image"
