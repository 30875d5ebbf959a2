"""Liveness and readiness: /readyz is 200 while the case store answers (reads are served) and
says whether Temporal answers; 503 when the case store does not; /healthz stays up.

Dependencies are made really unreachable: Temporal at a port nobody listens on, the case store
as a PostgreSQL database that does not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from infra.settings import Settings
from tests.api.support import (
    Operated,
    Party,
    Tokens,
    api_serving,
    assert_problem,
    create_body,
    seed_clinicians,
)
from tests.support import closed_temporal_address


async def probes(base_url: str) -> tuple[httpx.Response, httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        return await http.get("/healthz"), await http.get("/readyz")


def not_ready(response: httpx.Response) -> dict[str, Any]:
    problem = assert_problem(response, 503)
    assert problem["title"]
    return problem


async def test_ready_when_temporal_and_the_case_store_answer(operated: Operated) -> None:
    ready = await operated.http.get("/readyz")

    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "checks": {"temporal": "ok", "database": "ok", "workers": "ok"},
    }


async def test_ready_while_temporal_is_unreachable_saying_so_and_answering_commands_503(
    sqlite_url: str,
) -> None:
    settings = Settings(database_url=sqlite_url, temporal_address=closed_temporal_address())
    async with (
        api_serving(settings) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        live, ready = await probes(base_url)
        party = Party(Tokens(settings))
        await seed_clinicians(http, party)
        command = await http.post(
            "/v1/consultations", json=create_body(party, message="A rash."), headers=party.service
        )
        read = await http.get(f"/v1/clinicians/{party.clinician}", headers=party.service)

    assert live.status_code == 200
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["temporal"].startswith("unavailable")
    assert checks["commands"].startswith("unavailable")
    assert checks["database"] == "ok"
    assert_problem(command, 503)
    assert command.headers["Retry-After"]
    assert read.status_code == 200, read.text


async def test_not_ready_naming_the_database_when_the_case_store_is_unreachable(
    dev_env: WorkflowEnvironment, missing_database_url: str
) -> None:
    settings = Settings(database_url=missing_database_url)
    async with api_serving(settings, client=dev_env.client) as base_url:
        live, ready = await probes(base_url)

    assert live.status_code == 200
    problem = not_ready(ready)
    assert problem["detail"].startswith("database unavailable")
    assert problem["checks"]["temporal"] == "ok"
    assert problem["checks"]["database"].startswith("unavailable")


async def test_not_ready_naming_the_database_when_neither_answers(
    missing_database_url: str,
) -> None:
    settings = Settings(
        database_url=missing_database_url, temporal_address=closed_temporal_address()
    )
    async with api_serving(settings) as base_url:
        live, ready = await probes(base_url)

    assert live.status_code == 200
    problem = not_ready(ready)
    assert problem["detail"].startswith("database unavailable")
    assert problem["checks"]["temporal"].startswith("unavailable")


async def test_no_worker_polling_is_told_by_a_metric_and_readyz_without_leaving_rotation(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    task_queue = f"econsultation-nobody-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=sqlite_url, econsult_task_queue=task_queue)
    async with (
        api_serving(settings, client=dev_env.client) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        ready = await http.get("/readyz")
        metrics = (await http.get("/metrics")).text

    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["workers"] == f"none polling {task_queue}"
    assert f'econsult_workers_polling{{task_queue="{task_queue}"}} 0.0' in metrics


async def test_a_polling_worker_is_counted(operated: Operated) -> None:
    metrics = (await operated.http.get("/metrics")).text
    task_queue = operated.settings.econsult_task_queue

    assert f'econsult_workers_polling{{task_queue="{task_queue}"}} 1.0' in metrics
