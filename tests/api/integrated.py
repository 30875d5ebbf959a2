"""The API over HTTP with a worker that delivers: webhooks to a real receiver, journal entries
to a real FHIR server, whose attachment links name the API's own address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.client import Client

from api.app import create_app
from dev.harness.ports import LOOPBACK, free_port, serving
from infra.settings import Settings
from store.database import create_engine, create_session_factory
from tests.api.support import Api, Tokens
from tests.integrations.receivers import (
    FhirServer,
    WebhookReceiver,
    new_secret,
    webhook_settings,
    worker_with,
)


@dataclass
class Delivering(Api):
    """The API, and the receivers its worker delivers to (each may be made to refuse)."""

    receiver: WebhookReceiver
    fhir: FhirServer


@asynccontextmanager
async def api_delivering(
    client: Client, database_url: str, *, settings: dict[str, Any] | None = None
) -> AsyncIterator[Delivering]:
    secret = new_secret()
    receiver, fhir = WebhookReceiver([secret]), FhirServer()
    api_port = free_port()
    engine = create_engine(database_url)
    try:
        async with (
            serving(receiver.app()) as hooks,
            serving(fhir.app()) as fhir_url,
            worker_with(
                client,
                database_url,
                **webhook_settings(hooks, secret),
                public_api_url=f"http://{LOOPBACK}:{api_port}",
                **fhir.settings(fhir_url),
            ) as task_queue,
        ):
            api_settings = Settings(
                database_url=database_url, econsult_task_queue=task_queue, **(settings or {})
            )
            sessions = create_session_factory(engine)
            app = create_app(api_settings, client=client, sessions=sessions)
            async with (
                serving(app, api_port) as base_url,
                httpx.AsyncClient(base_url=base_url, timeout=60) as http,
            ):
                tokens = Tokens(api_settings)
                yield Delivering(http, sessions, api_settings, client, tokens, receiver, fhir)
    finally:
        await engine.dispose()
