"""The systems outside the service, as small real HTTP servers the tests start and stop.

`WebhookReceiver` is a portal or practice system: it verifies every delivery with the
standardwebhooks library and keeps what arrived. `FhirServer` is a record system: a token
endpoint (client credentials) and `POST /Communication` honouring `If-None-Exist`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from temporalio.client import Client

from dev.harness.ports import serving
from infra.settings import Settings
from worker import build_worker


def new_secret() -> str:
    return "whsec_" + base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()


async def eventually(check: Any, what: str, *, limit: float = 120.0) -> None:
    """Poll `check()` until true; fail (not hang) after `limit` seconds of waiting."""
    waited = 0.0
    while not await check():
        assert waited < limit, f"never happened: {what}"
        await asyncio.sleep(0.1)
        waited += 0.1


@asynccontextmanager
async def worker_with(client: Client, database_url: str, **settings: Any) -> AsyncIterator[str]:
    """An in-process worker on its own task queue, built from settings as production builds it."""
    task_queue = f"econsultation-integrations-{uuid.uuid4().hex[:8]}"
    configured = Settings(database_url=database_url, econsult_task_queue=task_queue, **settings)
    async with build_worker(client, configured):
        yield task_queue


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: str
    verified: bool


@dataclass
class WebhookReceiver:
    """Answers `status` to every delivery; verifies each with the secrets it knows."""

    secrets: list[str]
    status: int = 204
    deliveries: list[Delivery] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{audience}")
        async def receive(audience: str, request: Request) -> Response:
            body = (await request.body()).decode()
            headers = dict(request.headers)
            self.deliveries.append(
                Delivery(f"/{audience}", headers, body, self.verifies(body, headers))
            )
            return Response(status_code=self.status)

        return app

    def verifies(self, body: str, headers: dict[str, str], secret: str | None = None) -> bool:
        """True if one of the receiver's secrets (or just `secret`) verifies the delivery."""
        for key in [secret] if secret else self.secrets:
            try:
                Webhook(key).verify(body, headers)
                return True
            except WebhookVerificationError:
                continue
        return False

    def ids(self) -> list[str]:
        return [delivery.headers["webhook-id"] for delivery in self.deliveries]

    def bodies(self, event_type: str) -> list[dict[str, Any]]:
        """The bodies of the deliveries of one type (`econsult.…`), in the order they arrived."""
        bodies = [json.loads(delivery.body) for delivery in self.deliveries]
        return [body for body in bodies if body["type"] == event_type]

    async def received(self, event_type: str, count: int = 1) -> None:
        """Until `count` deliveries of `event_type` have arrived."""

        async def arrived() -> bool:
            return len(self.bodies(event_type)) >= count

        await eventually(arrived, f"{count} delivery of {event_type}")


TOKEN = "test-access-token"


@dataclass
class FhirServer:
    """Stores Communication resources by identifier; one resource per identifier, ever."""

    client_id: str = "econsult"
    client_secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: list[str | None] = field(default_factory=list)
    # While set, the first create is stored and then held unanswered (a worker dies waiting).
    hold_first: asyncio.Event | None = None
    stored_first: asyncio.Event = field(default_factory=asyncio.Event)
    # Answer every create with this status instead (a record system refusing the resource).
    refuse_with: int | None = None
    # Tokens issued to this server's client: each record system has a token of its own.
    tokens_issued: int = 0
    # Answer a new resource with this status instead of 201: a 202 or 204 comes without a
    # body, and without Location too unless `locates`.
    created_status: int = 201
    locates: bool = True

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = await request.form()
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())
            authorized = request.headers.get("authorization") == f"Basic {expected.decode()}"
            if form.get("grant_type") != "client_credentials" or not authorized:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            self.tokens_issued += 1
            return JSONResponse({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300})

        @app.post("/fhir/Communication")
        async def create(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return Response(status_code=401)
            condition = request.headers.get("if-none-exist")
            self.posts.append(condition)
            if self.refuse_with is not None:
                return JSONResponse(
                    {"resourceType": "OperationOutcome"}, status_code=self.refuse_with
                )
            identifier = (condition or "").removeprefix("identifier=")
            if identifier in self.resources:
                return JSONResponse(self.resources[identifier], status_code=200)
            resource = await request.json()
            resource["id"] = uuid.uuid4().hex
            self.resources[identifier] = resource
            location = f"/fhir/Communication/{resource['id']}/_history/1"
            if self.hold_first is not None and not self.stored_first.is_set():
                self.stored_first.set()
                await self.hold_first.wait()
            if self.created_status != 201:
                headers = {"location": location} if self.locates else {}
                return Response(status_code=self.created_status, headers=headers)
            return JSONResponse(resource, status_code=201, headers={"location": location})

        return app

    def settings(self, base_url: str) -> dict[str, str]:
        """The worker's settings that point it at this server."""
        return {
            "fhir_base_url": f"{base_url}/fhir",
            "fhir_token_url": f"{base_url}/token",
            "fhir_client_id": self.client_id,
            "fhir_client_secret": self.client_secret,
        }


def webhook_settings(base_url: str, secrets: str, *audiences: str) -> dict[str, str]:
    """The worker's settings that send each audience's events (`portal`: the patient's,
    `practice`: the others; both unless named) to `{base_url}/{audience}`, signed with `secrets`."""
    settings = {}
    for audience in audiences or ("portal", "practice"):
        settings[f"webhook_{audience}_url"] = f"{base_url}/{audience}"
        settings[f"webhook_{audience}_secrets"] = secrets
    return settings


@asynccontextmanager
async def worker_notifying(
    client: Client,
    database_url: str,
    receiver: WebhookReceiver,
    *audiences: str,
    record_system: FhirServer | None = None,
) -> AsyncIterator[str]:
    """`receiver` served, and a worker sending it `audiences`' events signed with its first
    secret (and journal entries to `record_system`, served too, if given); yields the queue."""
    async with AsyncExitStack() as stack:
        hooks = await stack.enter_async_context(serving(receiver.app()))
        settings = webhook_settings(hooks, receiver.secrets[0], *audiences)
        if record_system is not None:
            fhir = await stack.enter_async_context(serving(record_system.app()))
            settings.update(record_system.settings(fhir))
        yield await stack.enter_async_context(worker_with(client, database_url, **settings))
