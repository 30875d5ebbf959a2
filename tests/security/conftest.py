"""Security tests: spans exported in memory, the production Temporal client, JSON log capture."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.hardening import RateLimit
from infra.logs import JsonFormatter
from infra.settings import Settings
from infra.telemetry import add_span_exporter
from infra.temporal import connect
from store.database import create_engine, create_session_factory
from tests.api.conftest import Api, serving
from tests.api.support import Tokens
from tests.support import running_worker


@pytest.fixture(scope="session")
def exported_spans() -> InMemorySpanExporter:
    """Every span this process ends from now on, as the service's exporter would receive it."""
    exporter = InMemorySpanExporter()
    add_span_exporter(exporter)
    return exporter


@pytest.fixture(scope="session")
async def traced_client(
    dev_env: WorkflowEnvironment, exported_spans: InMemorySpanExporter
) -> Client:
    """A client as `infra.temporal.connect` makes it for the API and worker: codec, tracing."""
    target = dev_env.client.service_client.config.target_host
    return await connect(Settings(temporal_address=target))


# The tests' own HTTP client logs each URL it calls; the service makes no such calls.
TEST_CLIENT_LOGGERS = ("httpx", "httpcore")


def _from_the_service(record: logging.LogRecord) -> bool:
    return record.name.split(".")[0] not in TEST_CLIENT_LOGGERS


@contextmanager
def captured_logs(level: int = logging.INFO) -> Iterator[io.StringIO]:
    """Log lines as the service writes them (infra.logs.JsonFormatter), at the production level."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_from_the_service)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@asynccontextmanager
async def api_over_http(
    client: Client,
    database_url: str,
    *,
    rate_limit: RateLimit | None = None,
    extra_routes: Callable[[FastAPI], None] | None = None,
    **worker_options: Any,
) -> AsyncIterator[Api]:
    """Worker and API (uvicorn, real HTTP) as tests/api runs them, with the knobs tests need."""
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    try:
        async with running_worker(client, database_url, **worker_options) as task_queue:
            settings = Settings(database_url=database_url, econsult_task_queue=task_queue)
            app = create_app(settings, client=client, sessions=sessions, rate_limit=rate_limit)
            if extra_routes is not None:
                extra_routes(app)
            async with (
                serving(app) as base_url,
                httpx.AsyncClient(base_url=base_url, timeout=60) as http,
            ):
                yield Api(http, sessions, settings, client, Tokens(settings))
    finally:
        await engine.dispose()
