"""Operations without auth: liveness, readiness (the case store; Temporal told), metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.metrics import exposition
from api.openapi import OPERATIONS
from api.outages import DATABASE, TEMPORAL, why
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
        return f"unavailable: {why(error)}"
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
    """Ready while the case store answers: reads are served. 503 names the case store when it
    does not.

    `temporal` says whether Temporal answers and `workers` whether a worker polls the task
    queue, without deciding readiness: without them the API still serves reads and answers
    commands 503 with Retry-After, so it stays in rotation (were every replica taken out
    while Temporal is down, reads would stop too).
    """
    checks = {
        TEMPORAL: await _check(services, TEMPORAL, services.temporal_answers()),
        DATABASE: await _check(services, DATABASE, services.database_answers()),
    }
    checks["workers"] = await _workers(services)
    if checks[DATABASE] != "ok":
        raise Problem(503, f"{DATABASE} {checks[DATABASE]}", extra={"checks": checks})
    if checks[TEMPORAL] != "ok":
        checks["commands"] = "unavailable: 503 until Temporal answers"
    return HealthOut(status="ready", checks=checks)


@router.get("/metrics", operation_id="getMetrics", tags=[OPERATIONS], include_in_schema=False)
async def metrics(services: Deps) -> Response:
    """Prometheus: requests by route template (never by path), the case store's figures, and
    whether a worker polls (sampled now, at most every few seconds)."""
    await _workers(services)
    return Response(await exposition(services.sessions), media_type=CONTENT_TYPE_LATEST)
