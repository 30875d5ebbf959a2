"""docker-compose.yml read as Compose would read it with no variable set, for the compose tests.

Also what the tests compare it with: the Dockerfile, .dockerignore and the API's routes.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from datetime import timedelta
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from starlette.routing import Match

from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
APP_SERVICES = ("api", "worker", "migrate")

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, $NAME, $$
INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<braced>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


@cache
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    found: dict[str, Any] = services[name]
    return found


def interpolate(value: object) -> str:
    """The value with defaults applied; a required variable becomes `<NAME>`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op = match.group("op") or ""
        if op.endswith("-"):
            return match.group("arg")
        if op.endswith("?"):
            return f"<{name}>"
        return ""

    return INTERPOLATION.sub(replace, str(value))


def required_variable(value: object) -> str | None:
    """NAME when the whole value is `${NAME:?message}`, else None."""
    match = INTERPOLATION.fullmatch(str(value))
    if match and match.group("op") == ":?":
        return match.group("braced")
    return None


def environment(name: str) -> dict[str, object]:
    """The service's environment as written: a null value is passed through from the host."""
    raw = service(name).get("environment") or {}
    if isinstance(raw, list):
        return {k: v for k, _, v in (item.partition("=") for item in raw)}
    return dict(raw)


def resolved_environment(name: str) -> dict[str, str]:
    return {k: interpolate(v) for k, v in environment(name).items() if v is not None}


def command(name: str) -> list[str]:
    raw = service(name).get("command")
    return shlex.split(raw) if isinstance(raw, str) else list(raw or [])


def image(name: str) -> tuple[str, str]:
    reference = interpolate(service(name)["image"])
    repository, _, tag = reference.rpartition(":")
    return (repository, tag) if repository and "/" not in tag else (reference, "")


def published_ports(name: str) -> list[tuple[str, str]]:
    """(host port, container port) pairs; host port is "" when Docker picks one."""
    pairs = []
    for entry in service(name).get("ports") or []:
        if isinstance(entry, dict):
            pairs.append((interpolate(entry.get("published", "")), str(entry["target"])))
            continue
        parts = interpolate(entry).split("/")[0].split(":")
        pairs.append((parts[-2] if len(parts) > 1 else "", parts[-1]))
    return pairs


def depends_on(name: str) -> dict[str, str]:
    raw = service(name).get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {k: (v or {}).get("condition", "service_started") for k, v in raw.items()}


def healthcheck_url(name: str) -> str:
    test = service(name)["healthcheck"]["test"]
    text = test if isinstance(test, str) else " ".join(test)
    match = re.search(r"https?://[^'\"\s]+", text)
    assert match, f"{name}'s healthcheck requests no URL: {text}"
    return match.group(0)


def duration(text: str) -> timedelta:
    units = {"h": "hours", "m": "minutes", "s": "seconds", "ms": "milliseconds"}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text}"
    return sum((timedelta(**{units[u]: float(n)}) for n, u in parts), timedelta())


def settings_field_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def every_image() -> Iterator[tuple[str, str, str]]:
    for name, spec in compose()["services"].items():
        if "image" in spec:
            yield (name, *image(name))


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = (line.strip() for line in text.splitlines())
    return [
        (keyword.upper(), rest.strip())
        for keyword, _, rest in (line.partition(" ") for line in lines if line)
        if not keyword.startswith("#")
    ]


def excluded_by_dockerignore(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "re-inclusions are not checked here"
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in (p.strip("/") for p in patterns):
        for prefix in prefixes:
            if fnmatchcase(prefix, pattern):
                return True
            if pattern.startswith("**/") and fnmatchcase(prefix.split("/")[-1], pattern[3:]):
                return True
    return False


@cache
def api_app() -> Any:
    from api.app import create_app

    return create_app(Settings())


def api_serves(method: str, path: str) -> bool:
    """Whether the API routes `method path` to an endpoint (routing only, nothing runs)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    return any(route.matches(scope)[0] == Match.FULL for route in api_app().routes)


def connections_per_process() -> int:
    """Case-store connections one API or worker process may hold: its pool and overflow."""
    database = (ROOT / "store" / "database.py").read_text()
    sizes = [re.search(rf'"{name}", (\d+)', database) for name in ("pool_size", "max_overflow")]
    assert all(sizes), "store/database.py no longer sets pool_size and max_overflow"
    return sum(int(size.group(1)) for size in sizes if size)
