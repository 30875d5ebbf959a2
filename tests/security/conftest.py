"""Security tests: the production Temporal client, its spans exported in memory."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra.settings import Settings
from infra.temporal import connect
from tests.support import temporal_address


@pytest.fixture(scope="session")
async def traced_client(dev_env: WorkflowEnvironment, spans: InMemorySpanExporter) -> Client:
    """A client as `infra.temporal.connect` makes it for the API and worker: codec, tracing."""
    return await connect(Settings(temporal_address=temporal_address(dev_env)))
