"""Operations without auth: liveness, readiness (Temporal and the case store), metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.metrics import exposition
from api.openapi import OPERATIONS
from api.outages import DATABASE, TEMPORAL
from api.problems import Problem, problem_responses
from api.schemas import HealthOut
from api.services import Deps, Services

router = APIRouter()

READINESS_TIMEOUT_SECONDS = 3.0


@router.get("/healthz", operation_id="getHealth", tags=[OPERATIONS], response_model=HealthOut)
async def healthz() -> HealthOut:
    """The process serves requests."""
    return HealthOut(status="ok")


async def _check(services: Services, name: str, probe: Awaitable[object]) -> str:
    """ "ok", or why not; an outage is logged when it starts and ends, not per probe."""
    try:
        await asyncio.wait_for(probe, READINESS_TIMEOUT_SECONDS)
    except Exception as error:
        services.outages.down(name, error)
        return f"unavailable: {type(error).__name__}"
    services.outages.up(name)
    return "ok"


async def _workers(services: Services) -> str:
    try:
        polling = await asyncio.wait_for(services.workers.polling(), READINESS_TIMEOUT_SECONDS)
    except Exception as error:
        return f"unknown: {type(error).__name__}"
    return "ok" if polling else f"none polling {services.settings.econsult_task_queue}"


@router.get(
    "/readyz",
    operation_id="getReadiness",
    tags=[OPERATIONS],
    response_model=HealthOut,
    responses=problem_responses(503),
)
async def readyz(services: Deps) -> HealthOut:
    """Temporal and the case store both answer; 503 names the one that does not.

    `workers` says whether a worker polls the task queue, without deciding readiness: with no
    worker the API still serves reads and answers commands 503, so it stays in rotation.
    """
    checks = {
        TEMPORAL: await _check(services, TEMPORAL, services.temporal_answers()),
        DATABASE: await _check(services, DATABASE, services.database_answers()),
    }
    failed = {name: result for name, result in checks.items() if result != "ok"}
    checks["workers"] = await _workers(services)
    if failed:
        raise Problem(
            503,
            "; ".join(f"{name} {result}" for name, result in failed.items()),
            extra={"checks": checks},
        )
    return HealthOut(status="ready", checks=checks)


@router.get("/metrics", operation_id="getMetrics", tags=[OPERATIONS], include_in_schema=False)
async def metrics(services: Deps) -> Response:
    """Prometheus: requests by route template (never by path), the case store's figures, and
    whether a worker polls (sampled now, at most every few seconds)."""
    await _workers(services)
    return Response(await exposition(services.sessions), media_type=CONTENT_TYPE_LATEST)
