"""The production wiring for operations tests: a client from infra.temporal.connect (tracing
interceptor, encrypted converter) with a runtime serving worker metrics, a worker built on it
(build_worker, so its activity interceptor too), and the API over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra.harness.databases import PostgresServer, sqlalchemy_url
from infra.harness.ports import free_port
from infra.settings import Settings
from infra.telemetry import temporal_runtime
from infra.temporal import connect
from tests.api.support import Operated, api_over_http
from tests.support import temporal_address


@pytest.fixture
def missing_database_url(postgres_server: PostgresServer) -> str:
    """A PostgreSQL database that does not exist: the case store made really unreachable."""
    return sqlalchemy_url(postgres_server.database_url(f"econsult_missing_{uuid.uuid4().hex[:8]}"))


@pytest.fixture(scope="session")
async def production_client(dev_env: WorkflowEnvironment) -> tuple[Client, str]:
    """A client as worker.py makes it, with SDK metrics served on a free port."""
    metrics_address = f"127.0.0.1:{free_port()}"
    settings = Settings(temporal_address=temporal_address(dev_env))
    client = await connect(settings, temporal_runtime(metrics_address))
    return client, f"http://{metrics_address}/metrics"


@pytest.fixture(scope="session")
async def operated(
    spans: InMemorySpanExporter, production_client: tuple[Client, str], postgres_url: str
) -> AsyncIterator[Operated]:
    client, worker_metrics_url = production_client
    async with api_over_http(client, postgres_url) as api:
        yield Operated(
            api.http, api.sessions, api.settings, api.client, api.tokens, spans, worker_metrics_url
        )
