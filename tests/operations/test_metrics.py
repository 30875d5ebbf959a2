"""Metrics for Prometheus: the API's /metrics (requests, case store figures) and the worker's
endpoint (activity failures and retries, the Temporal SDK's own worker metrics)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from dev.harness.databases import migrate
from dev.harness.ports import serving
from domain.events import Event
from domain.models import CopaymentOutcome
from infra.settings import Settings
from store.case_writes import Consultations
from store.database import create_engine, create_session_factory
from tests.api.support import SERVICE, Operated, api_serving, bearer, eventually
from tests.support import (
    effects,
    new_start,
    notifications,
    running_worker,
    seed_directory,
    start,
    time_skipping_environment,
)


def samples(exposition: str, name: str, **labels: str) -> list[Sample]:
    return [
        sample
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


def value(exposition: str, name: str, **labels: str) -> float:
    return sum(sample.value for sample in samples(exposition, name, **labels))


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
    assert response.status_code == 200
    return response.text


async def test_requests_are_counted_and_timed_by_route_template_and_status(
    operated: Operated,
) -> None:
    unknown = uuid.uuid4().hex
    service = bearer(operated.tokens.mint(SERVICE))
    route = {"method": "GET", "route": "/v1/consultations/{consultation_id}", "status": "404"}
    before = await operated.http.get("/metrics")

    missing = await operated.http.get(f"/v1/consultations/{unknown}", headers=service)
    after = (await operated.http.get("/metrics")).text

    assert missing.status_code == 404
    assert value(after, "econsult_http_requests_total", **route) == (
        value(before.text, "econsult_http_requests_total", **route) + 1
    )
    assert value(after, "econsult_http_request_seconds_count", **route) == (
        value(before.text, "econsult_http_request_seconds_count", **route) + 1
    )
    assert unknown not in after


async def test_case_store_figures_count_consultations_by_status_the_overdue_and_breaches(
    tmp_path: Path,
) -> None:
    """A case left unanswered past its deadline and a draft left to expire, on skipped time."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'figures.db'}"
    migrate(url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    await seed_directory(sessions)
    try:
        async with (
            time_skipping_environment() as env,
            running_worker(env.client, url) as task_queue,
        ):
            unanswered = await start(env.client, task_queue, new_start())
            await start(env.client, task_queue, new_start(message=None))
            await env.sleep(timedelta(days=15))
            assert (await unanswered.query("state"))["overdue"] is True
            await eventually(
                lambda: notifications(sessions, unanswered.id.removeprefix("econsultation-")),
                # New message, reminder, overdue to the practice, "answer late" to the patient.
                lambda found: len(found) == 4 and all(n.sent_at for n in found),
            )

            app = create_app(Settings(database_url=url), client=env.client, sessions=sessions)
            async with serving(app) as base_url:
                exposition = await scrape(f"{base_url}/metrics")
    finally:
        await engine.dispose()

    assert value(exposition, "econsult_case_store_up") == 1
    by_status = {s.labels["status"]: s.value for s in samples(exposition, "econsult_consultations")}
    assert by_status == {
        "draft": 0,
        "awaiting_clinician": 1,
        "awaiting_patient": 0,
        "closed": 0,
        "expired": 1,
        "withdrawn": 0,
    }
    assert value(exposition, "econsult_consultations_overdue") == 1
    assert value(exposition, "econsult_deadline_breaches_total") == 1
    assert value(exposition, "econsult_notifications_undelivered") == 0


class CaseStoreDownOnce(Consultations):
    """A case store that refuses each event's first commit, as one briefly down would."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions)
        self._refused: set[tuple[str, int]] = set()

    async def commit(
        self, event: Event, outcome: CopaymentOutcome | None = None
    ) -> tuple[bool, CopaymentOutcome | None]:
        key = (event.record.consultation_id, event.record.revision)
        if key not in self._refused:
            self._refused.add(key)
            raise ConnectionError("case store unavailable")
        return await super().commit(event, outcome)


async def test_activity_failures_and_retries_are_counted_by_type_on_the_worker_endpoint(
    production_client: tuple[Client, str], sqlite_url: str
) -> None:
    client, worker_metrics_url = production_client
    engine = create_engine(sqlite_url)
    sessions = create_session_factory(engine)
    await seed_directory(sessions)
    # The journal entry is written with the case row, in the commit local activity.
    journal = {"activity_type": "commit"}
    before = await scrape(worker_metrics_url)
    try:
        store = CaseStoreDownOnce(sessions)
        async with running_worker(client, sqlite_url, consultations=store) as queue:
            case = new_start()
            await start(client, queue, case)
            journaled = await eventually(
                lambda: effects(sessions, case.consultation_id),
                lambda found: found["journal"] == 1,
            )
            # The retried commit runs inside the run's first workflow task, which completes (and
            # is counted) only after the row is written: scrape once it has.
            after = await eventually(
                lambda: scrape(worker_metrics_url),
                lambda found: bool(
                    samples(found, "temporal_workflow_task_execution_latency_count")
                ),
            )
    finally:
        await engine.dispose()

    assert journaled["journal"] == 1
    # The SDK writes counters without `_total`; the parser adds it to their samples.
    failures = "econsult_activity_failures_total"
    assert value(after, failures, **journal, error_type="ConnectionError") == 1 + value(
        before, failures, **journal, error_type="ConnectionError"
    )
    retries = "econsult_activity_retries_total"
    assert value(after, retries, **journal) == 1 + value(before, retries, **journal)
    assert value(after, retries, activity_type="check_directory") == value(
        before, retries, activity_type="check_directory"
    )
    # The SDK's own worker metrics, served beside them.
    assert value(after, "temporal_local_activity_execution_failed_total", **journal) >= 1
    assert samples(after, "temporal_worker_task_slots_available")
    assert samples(after, "temporal_workflow_task_execution_latency_count")


async def test_metrics_still_answer_when_the_case_store_is_down(
    dev_env: WorkflowEnvironment, missing_database_url: str
) -> None:
    settings = Settings(database_url=missing_database_url)
    async with api_serving(settings, client=dev_env.client) as base_url:
        await scrape(f"{base_url}/healthz")
        exposition = await scrape(f"{base_url}/metrics")

    assert value(exposition, "econsult_case_store_up") == 0
    assert not samples(exposition, "econsult_consultations")
    assert samples(exposition, "econsult_http_requests_total")
