"""Operations without auth: liveness, readiness (Temporal and the case store), metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.metrics import exposition
from api.problems import Problem
from api.schemas import HealthOut
from api.services import Deps

router = APIRouter(tags=["operations"])
log = logging.getLogger("econsult.api")

READINESS_TIMEOUT_SECONDS = 3.0


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    """The process serves requests."""
    return HealthOut(status="ok")


async def _check(name: str, probe: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(probe, READINESS_TIMEOUT_SECONDS)
        return "ok"
    except Exception as error:
        log.warning("readiness check failed", extra={"reason": f"{name}: {type(error).__name__}"})
        return f"unavailable: {type(error).__name__}"


@router.get("/readyz", response_model=HealthOut, responses={503: {"description": "not ready"}})
async def readyz(services: Deps) -> HealthOut:
    """Temporal and the case store both answer; 503 names the one that does not."""

    async def temporal() -> None:
        client = await services.temporal.client()
        if not await client.service_client.check_health():
            raise RuntimeError("Temporal reports not serving")

    checks = {
        "temporal": await _check("temporal", temporal()),
        "database": await _check("database", services.database_answers()),
    }
    failed = {name: result for name, result in checks.items() if result != "ok"}
    if failed:
        raise Problem(
            503,
            "; ".join(f"{name} {result}" for name, result in failed.items()),
            extra={"checks": checks},
        )
    return HealthOut(status="ready", checks=checks)


@router.get("/metrics", include_in_schema=False)
async def metrics(services: Deps) -> Response:
    """Prometheus: requests by route template (never by path) and the case store's figures."""
    return Response(await exposition(services.sessions), media_type=CONTENT_TYPE_LATEST)
