"""Histories as production makes them: every command through the HTTP API, as an update.

Each create is an update-with-start, each command an update, each sent with an
Idempotency-Key and repeated at once (the repeat shares the first's update id), and one create
first answered 503 while no worker ran, then retried with its key. The dev server records
them: the time-skipping test server takes no updates.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from dev.harness.ports import serving
from infra.settings import Settings
from store.database import create_engine, create_session_factory
from tests.api.support import Party, Tokens, assert_problem, create_body, seed_clinicians, unique
from tests.integrations.receivers import FhirServer
from worker import build_worker
from workflows import search_attributes

CASES = "/v1/consultations"


@dataclass
class Through:
    """The API over real HTTP, and the worker behind it, which a scenario may stop and start."""

    http: httpx.AsyncClient
    tokens: Tokens
    client: Client
    settings: Settings
    _worker: AsyncExitStack = field(default_factory=AsyncExitStack)

    def party(self) -> Party:
        return Party(self.tokens)

    async def start_worker(self) -> None:
        await self._worker.enter_async_context(build_worker(self.client, self.settings))

    async def stop_worker(self) -> None:
        await self._worker.aclose()

    async def sent_twice(
        self, path: str, headers: dict[str, str], body: Any = None, status: int = 200
    ) -> dict[str, Any]:
        """A command and its repeat under one key, together: applied once, answered alike."""
        keyed = {**headers, "Idempotency-Key": unique("key")}
        first, again = await asyncio.gather(
            *(self.http.post(path, json=body, headers=keyed) for _ in range(2))
        )
        assert first.status_code == again.status_code == status, (first.text, again.text)
        answer: dict[str, Any] = first.json()
        return answer

    async def created(self, party: Party, message: str | None = "I have had a rash.") -> str:
        await seed_clinicians(self.http, party)
        case = await self.sent_twice(
            CASES, party.service, create_body(party, message=message), status=201
        )
        return str(case["id"])


ApiScenario = Callable[[Through], Awaitable[str]]


def message(body: str, **fields: Any) -> dict[str, Any]:
    return {"body": body, "attachment_ids": [], **fields}


async def api_thread_closed_with_a_reply(api: Through) -> str:
    """create (with a message), clinician reply, patient reply, clinician reply that closes."""
    party = api.party()
    case = await api.created(party)
    await api.sent_twice(f"{CASES}/{case}/replies", party.doctor, message("Use the cream."))
    await api.sent_twice(f"{CASES}/{case}/patient-replies", party.service, message("It helps."))
    await api.sent_twice(
        f"{CASES}/{case}/replies", party.doctor, message("Good, closing.", close=True)
    )
    return case


async def api_draft_submitted_then_withdrawn(api: Through) -> str:
    """create a draft, submit it, withdraw before any reply."""
    party = api.party()
    case = await api.created(party, message=None)
    await api.sent_twice(f"{CASES}/{case}/submit", party.service, message("Is this contagious?"))
    await api.sent_twice(f"{CASES}/{case}/withdraw", party.service)
    return case


async def api_reassigned_then_closed(api: Through) -> str:
    """reassign to the substitute, who replies without billing and closes with a message."""
    party = api.party()
    case = await api.created(party)
    await api.sent_twice(
        f"{CASES}/{case}/reassign",
        party.practice_admin(),
        {"recipient_id": party.substitute, "reason": "Dr. Fastlege is away."},
    )
    await api.sent_twice(
        f"{CASES}/{case}/replies", party.vikar, message("Book a visit.", billable=False)
    )
    await api.sent_twice(
        f"{CASES}/{case}/close", party.vikar, {"message": message("See you."), "billable": False}
    )
    return case


async def api_refused_commands_then_closed(api: Through) -> str:
    """Refusals (answered before anything is written), then a close without a message."""
    party = api.party()
    case = await api.created(party)
    await api.sent_twice(
        f"{CASES}/{case}/patient-replies", party.service, message("Hello?"), status=409
    )
    await api.sent_twice(f"{CASES}/{case}/close", party.other_clinician(), status=404)
    await api.sent_twice(f"{CASES}/{case}/replies", party.doctor, message("Answer."))
    await api.sent_twice(f"{CASES}/{case}/withdraw", party.service, status=409)
    await api.sent_twice(f"{CASES}/{case}/close", party.doctor)
    return case


async def api_create_retried_after_no_worker(api: Through) -> str:
    """With no worker, a create answers 503; retried with its key once one runs, it applies."""
    party = api.party()
    await seed_clinicians(api.http, party)
    body = create_body(party, message="Is anyone there?")
    keyed = {**party.service, "Idempotency-Key": unique("key")}
    await api.stop_worker()
    try:
        assert_problem(await api.http.post(CASES, json=body, headers=keyed), 503)
    finally:
        await api.start_worker()
    retried = await api.http.post(CASES, json=body, headers=keyed)
    assert retried.status_code == 201, retried.text
    case = str(retried.json()["id"])
    await api.sent_twice(f"{CASES}/{case}/close", party.doctor)
    return case


API_SCENARIOS: dict[str, ApiScenario] = {
    "api_thread_closed_with_a_reply": api_thread_closed_with_a_reply,
    "api_draft_submitted_then_withdrawn": api_draft_submitted_then_withdrawn,
    "api_reassigned_then_closed": api_reassigned_then_closed,
    "api_refused_commands_then_closed": api_refused_commands_then_closed,
    "api_create_retried_after_no_worker": api_create_retried_after_no_worker,
}


@asynccontextmanager
async def api_on_dev_server(
    database_url: str, data_converter: Any, bin_dir: Path
) -> AsyncIterator[Through]:
    """A dev server, the worker (with a record system, so forwarding is recorded) and the API."""
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter,
        dev_server_existing_path=shutil.which("temporal", path=str(bin_dir)),
        dev_server_extra_args=search_attributes.dev_server_flags(),
        ui=False,
    )
    engine = create_engine(database_url)
    fhir = FhirServer()
    try:
        async with serving(fhir.app(), 0) as fhir_url:
            record_system: dict[str, Any] = fhir.settings(fhir_url)
            settings = Settings(
                database_url=database_url,
                econsult_task_queue=f"econsultation-record-{uuid.uuid4().hex[:8]}",
                # One token per party serves many commands: the per-caller limit is lifted.
                api_write_burst=100_000,
                **record_system,
            )
            app = create_app(settings, client=env.client, sessions=create_session_factory(engine))
            async with (
                serving(app, 0) as base_url,
                httpx.AsyncClient(base_url=base_url, timeout=60) as http,
            ):
                through = Through(http, Tokens(settings), env.client, settings)
                await through.start_worker()
                try:
                    yield through
                finally:
                    await through.stop_worker()
    finally:
        await engine.dispose()
        await env.shutdown()
