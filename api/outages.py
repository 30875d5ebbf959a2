"""Dependencies that stop answering: 503 with Retry-After, one log line per outage, recovery.

While the case store or Temporal is unreachable every request that needs it answers 503
problem+json with `Retry-After`, never 500. The first failure logs one WARNING and starts a
probe that logs once more when the dependency answers again; requests in between log
nothing. `/readyz` and the metric `econsult_dependency_up` say which one is down;
`econsult_dependency_errors_total` counts the requests it cost, so an outage shorter than a
scrape interval still shows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Gauge
from sqlalchemy import exc as db

from api.problems import Problem, problem_response
from infra.settings import SettingRefused

log = logging.getLogger("econsult.api")

RETRY_AFTER_SECONDS = 5
PROBE_EVERY_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 3.0

DATABASE = "database"
TEMPORAL = "temporal"

DEPENDENCY_UP = Gauge(
    "econsult_dependency_up",
    "Whether this API process last found the dependency answering (1) or not (0)",
    ["dependency"],
)
COMMANDS_NOT_TAKEN = Counter(
    "econsult_commands_not_taken",
    "Commands answered 503 because no worker took them in time (is a worker polling?)",
    ["command"],
)
DEPENDENCY_ERRORS = Counter(
    "econsult_dependency_errors_total",
    "Requests (readiness checks included) answered 503 because the dependency did not answer",
    ["dependency"],
)
for _dependency in (DATABASE, TEMPORAL):
    DEPENDENCY_UP.labels(_dependency).set(1)
    DEPENDENCY_ERRORS.labels(_dependency)

# What the case store's driver raises when it cannot be reached or has gone away. SQLite's
# "database is locked" is an OperationalError too: busy for now, so 503 is right for it.
CASE_STORE_UNREACHABLE: tuple[type[Exception], ...] = (
    db.OperationalError,
    db.InterfaceError,
    db.DisconnectionError,
    db.TimeoutError,
)


class DependencyUnavailableError(Exception):
    """A dependency did not answer; the request answers 503 and the outage is tracked."""

    def __init__(self, dependency: str) -> None:
        super().__init__(f"{dependency} unavailable")
        self.dependency = dependency


def retry_later(detail: str, *, kind: str = "unavailable") -> Problem:
    return Problem(503, detail, kind=kind, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


Probe = Callable[[], Awaitable[object]]


def why(error: BaseException) -> str:
    """Why a dependency did not answer, fit for a log line and /readyz: the setting to fix when
    a setting is the cause (a refused TLS handshake or key), else the error's type only (a
    driver's message can quote a statement and its values)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, SettingRefused):
            return str(cause)
        cause = cause.__cause__
    return type(error).__name__


class Outages:
    """Which dependencies are down, since which failure; logs transitions, not requests."""

    def __init__(self, probes: dict[str, Probe]) -> None:
        self._probes = probes
        self._down: dict[str, str] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}

    def reason(self, dependency: str) -> str | None:
        """Why the dependency is down (the error's type), or None while it answers."""
        return self._down.get(dependency)

    def down(self, dependency: str, error: BaseException) -> None:
        DEPENDENCY_ERRORS.labels(dependency).inc()
        if dependency in self._down:
            return
        self._down[dependency] = why(error)
        DEPENDENCY_UP.labels(dependency).set(0)
        log.warning(
            f"{dependency} unreachable; answering 503 until it is back",
            extra={"reason": why(error)},
        )
        self._watchers[dependency] = asyncio.create_task(self._watch(dependency))

    def up(self, dependency: str) -> None:
        if self._down.pop(dependency, None) is None:
            return
        DEPENDENCY_UP.labels(dependency).set(1)
        log.warning(f"{dependency} reachable again")

    async def _watch(self, dependency: str) -> None:
        """Probe until the dependency answers: recovery is seen without a request or restart."""
        while dependency in self._down:
            await asyncio.sleep(PROBE_EVERY_SECONDS)
            try:
                await asyncio.wait_for(self._probes[dependency](), PROBE_TIMEOUT_SECONDS)
            except Exception:  # noqa: S112 - still down; the outage was logged once already
                continue
            self.up(dependency)
        self._watchers.pop(dependency, None)

    async def close(self) -> None:
        for watcher in list(self._watchers.values()):
            watcher.cancel()
        self._watchers.clear()


def _outages(request: Request) -> Outages:
    outages: Outages = request.app.state.services.outages
    return outages


async def _on_case_store_unreachable(request: Request, exc: Exception) -> JSONResponse:
    _outages(request).down(DATABASE, exc)
    return problem_response(retry_later("the case store is unavailable; try again shortly"))


async def _on_dependency_unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DependencyUnavailableError)
    _outages(request).down(exc.dependency, exc.__cause__ or exc)
    return problem_response(retry_later(f"the {exc.dependency} service is unavailable; try again"))


def install_outage_handlers(app: FastAPI) -> None:
    for error in CASE_STORE_UNREACHABLE:
        app.add_exception_handler(error, _on_case_store_unreachable)
    app.add_exception_handler(DependencyUnavailableError, _on_dependency_unavailable)
