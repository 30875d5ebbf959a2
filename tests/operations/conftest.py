"""The production wiring for operations tests: a client from infra.temporal.connect (tracing
interceptor, encrypted converter) with a runtime serving worker metrics, a worker built on it
(build_worker, so its activity interceptor too), and the API over real HTTP.

Every span this process makes goes to one in-memory exporter, added to the process's tracer
provider the way infra.telemetry lets tests add theirs.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from infra.scratch_postgres import PostgresServer
from infra.settings import Settings
from infra.telemetry import add_span_exporter, temporal_runtime
from infra.temporal import connect
from store.database import create_engine, create_session_factory
from tests.api.conftest import Api, serving
from tests.api.support import Tokens
from tests.support import running_worker


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def closed_temporal_address() -> str:
    """An address where nothing listens: Temporal made really unreachable."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def missing_database_url(postgres_server: PostgresServer) -> str:
    """A PostgreSQL database that does not exist: the case store made really unreachable."""
    url = postgres_server.database_url(f"econsult_missing_{uuid.uuid4().hex[:8]}")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def temporal_address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


@dataclass
class Operated(Api):
    spans: InMemorySpanExporter
    worker_metrics_url: str


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    add_span_exporter(exporter)
    return exporter


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
    engine = create_engine(postgres_url)
    sessions = create_session_factory(engine)
    try:
        async with running_worker(client, postgres_url) as task_queue:
            settings = Settings(database_url=postgres_url, econsult_task_queue=task_queue)
            app = create_app(settings, client=client, sessions=sessions)
            async with (
                serving(app) as base_url,
                httpx.AsyncClient(base_url=base_url, timeout=60) as http,
            ):
                yield Operated(
                    http, sessions, settings, client, Tokens(settings), spans, worker_metrics_url
                )
    finally:
        await engine.dispose()


@asynccontextmanager
async def api_serving(settings: Settings, client: Client | None = None) -> AsyncIterator[str]:
    """The API as `python -m api` builds it (own engine; own Temporal client unless given)."""
    async with serving(create_app(settings, client=client)) as base_url:
        yield base_url
