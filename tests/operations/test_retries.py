"""Safe at the edges, with real processes: a command retried with its Idempotency-Key takes
effect once and answers as the first time (also after a lost response), a stopped worker
(SIGSTOP) gets 503 + Retry-After instead of a hanging request while reads go on, and a case
store refusing connections answers 503 + Retry-After on every route until it is back.

The worker is `python worker.py` (so it can be stopped); the API runs as `python -m api`
builds it, with its own engine, over real HTTP, on a PostgreSQL database of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from dev.harness.databases import PostgresServer
from dev.harness.ports import free_port
from infra.settings import Settings
from store.database import create_engine, create_session_factory
from store.request_tables import IdempotencyKey
from tests.api.support import (
    Party,
    Tokens,
    api_serving,
    assert_problem,
    create_body,
    eventually,
    rows,
    seed_clinicians,
    unique,
)
from tests.support import (
    WorkerProcess,
    effects,
    effects_when_quiet,
    temporal_address,
    worker_process,
)

# Long enough for the API's own bound (10 s) to answer first; never reached when it works.
CLIENT_WAITS_SECONDS = 30.0
# A client that gives up while the worker is stopped: its answer is lost.
IMPATIENT_SECONDS = 1.0
TEST_SECRET = "retries-test-secret-0123456789abcdef-0123456789"


@dataclass
class Stack:
    http: httpx.AsyncClient
    base_url: str
    worker: WorkerProcess
    sessions: async_sessionmaker[AsyncSession]
    database: str
    tokens: Tokens

    def party(self) -> Party:
        return Party(self.tokens)

    def stop_worker(self) -> None:
        self.worker.pause()

    def resume_worker(self) -> None:
        self.worker.resume()


@pytest.fixture(scope="module")
def database(postgres_server: PostgresServer) -> Iterator[str]:
    """A database of this module's own: the tests take it away from the API and give it back."""
    with postgres_server.fresh_database("econsult_retries") as url:
        yield url
        refuse_connections(postgres_server, url, allowed=True)


@pytest.fixture(scope="module")
async def stack(
    dev_env: WorkflowEnvironment, database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    url = database
    task_queue = f"econsultation-retries-{uuid.uuid4().hex[:8]}"
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_address(dev_env),
        "DATABASE_URL": url,
        "ECONSULT_TASK_QUEUE": task_queue,
        "WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "LOG_LEVEL": "INFO",
    }
    environment.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    settings = Settings(
        database_url=url, econsult_task_queue=task_queue, auth_hs256_secret=TEST_SECRET
    )
    engine = create_engine(url)
    try:
        async with (
            worker_process(environment, tmp_path_factory.mktemp("worker")) as worker,
            api_serving(settings, client=dev_env.client) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=CLIENT_WAITS_SECONDS) as http,
        ):
            stack = Stack(
                http, base_url, worker, create_session_factory(engine), database, Tokens(settings)
            )
            try:
                yield stack
            finally:
                stack.resume_worker()
    finally:
        await engine.dispose()


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def sent_twice(
    http: httpx.AsyncClient, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> httpx.Response:
    """The command twice under one key: both answers equal, the second marked as a replay."""
    first = await http.post(path, json=body, headers=headers)
    again = await http.post(path, json=body, headers=headers)
    assert first.status_code in (200, 201), first.text
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers.get("Idempotent-Replayed") == "true"
    return first


async def settled(stack: Stack, consultation_id: str, expected: dict[str, int]) -> dict[str, int]:
    await eventually(lambda: effects(stack.sessions, consultation_id), lambda e: e == expected)
    return await effects_when_quiet(stack.sessions, consultation_id)


async def case_awaiting_clinician(stack: Stack) -> tuple[Party, str]:
    """A fresh party's consultation, sent with its question "Q."."""
    party = stack.party()
    await seed_clinicians(stack.http, party)
    created = await stack.http.post(
        "/v1/consultations", json=create_body(party, message="Q."), headers=party.service
    )
    assert created.status_code == 201, created.text
    return party, str(created.json()["id"])


async def test_each_command_sent_twice_with_one_key_takes_effect_once(stack: Stack) -> None:
    party = stack.party()
    await seed_clinicians(stack.http, party)
    http = stack.http
    created = await sent_twice(
        http,
        "/v1/consultations",
        create_body(party, message="A rash."),
        keyed(party.service, unique("create")),
    )
    case = f"/v1/consultations/{created.json()['id']}"
    await sent_twice(http, f"{case}/replies", {"body": "Cream."}, keyed(party.doctor, unique("r")))
    await sent_twice(
        http, f"{case}/patient-replies", {"body": "Better."}, keyed(party.service, unique("p"))
    )
    closed = await sent_twice(
        http, f"{case}/close", {"message": {"body": "Bye."}}, keyed(party.doctor, unique("c"))
    )

    assert closed.json()["status"] == "closed"
    # Four messages, each journaled, and the close; one notification per event (the settlement
    # too); one charge.
    assert await settled(stack, created.json()["id"], FULL_LIFECYCLE) == FULL_LIFECYCLE


FULL_LIFECYCLE = {"messages": 4, "journal": 5, "notifications": 5, "charges": 1}


async def test_submit_and_withdraw_sent_twice_with_one_key_take_effect_once(stack: Stack) -> None:
    party = stack.party()
    await seed_clinicians(stack.http, party)
    http = stack.http
    draft = await sent_twice(
        http, "/v1/consultations", create_body(party), keyed(party.service, unique("d"))
    )
    case = f"/v1/consultations/{draft.json()['id']}"
    await sent_twice(http, f"{case}/submit", {"body": "Q."}, keyed(party.service, unique("s")))
    withdrawn = await sent_twice(http, f"{case}/withdraw", None, keyed(party.service, unique("w")))

    assert withdrawn.json()["status"] == "withdrawn"
    expected = {"messages": 1, "journal": 2, "notifications": 2, "charges": 0}
    assert await settled(stack, draft.json()["id"], expected) == expected


async def test_the_same_key_with_another_body_is_422_and_changes_nothing(stack: Stack) -> None:
    party, cid = await case_awaiting_clinician(stack)
    case = f"/v1/consultations/{cid}"
    headers = keyed(party.doctor, unique("reply"))
    first = await stack.http.post(f"{case}/replies", json={"body": "One."}, headers=headers)
    other = await stack.http.post(f"{case}/replies", json={"body": "Two."}, headers=headers)
    elsewhere = await stack.http.post(f"{case}/close", json={}, headers=headers)

    assert first.status_code == 200, first.text
    assert assert_problem(other, 422)["type"].endswith("idempotency-key-reused")
    assert_problem(elsewhere, 422)
    assert (await effects(stack.sessions, cid))["messages"] == 2


async def test_a_key_belongs_to_its_caller(stack: Stack) -> None:
    party = stack.party()
    await seed_clinicians(stack.http, party)
    key = unique("shared")
    body = create_body(party, message="Q.")
    mine = await stack.http.post("/v1/consultations", json=body, headers=keyed(party.service, key))
    other_portal = Party(stack.tokens, clinician=party.clinician, patient=party.patient)
    theirs = await stack.http.post(
        "/v1/consultations", json=body, headers=keyed(other_portal.service, key)
    )

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


async def test_a_repeat_sent_while_the_first_is_in_flight_takes_effect_once(stack: Stack) -> None:
    party, cid = await case_awaiting_clinician(stack)
    path, headers = f"/v1/consultations/{cid}/replies", keyed(party.doctor, unique("reply"))
    together = await asyncio.gather(
        *(stack.http.post(path, json={"body": "Cream."}, headers=headers) for _ in range(3))
    )

    assert {answer.status_code for answer in together} == {200}
    assert len({answer.text for answer in together}) == 1
    expected = {"messages": 2, "journal": 2, "notifications": 3, "charges": 1}
    assert await settled(stack, cid, expected) == expected


async def lost(
    stack: Stack, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> None:
    """Send while the worker is stopped and give up: the client never sees the answer."""
    stack.stop_worker()
    try:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=IMPATIENT_SECONDS) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.post(path, json=body, headers=headers)
    finally:
        stack.resume_worker()


async def retried_after_loss(
    stack: Stack, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> httpx.Response:
    await lost(stack, path, body, headers)
    retried = await stack.http.post(path, json=body, headers=headers)
    again = await stack.http.post(path, json=body, headers=headers)
    assert retried.status_code in (200, 201), retried.text
    assert (again.status_code, again.json()) == (retried.status_code, retried.json())
    return retried


async def test_commands_whose_answers_were_lost_take_effect_once_when_retried(
    stack: Stack,
) -> None:
    party = stack.party()
    await seed_clinicians(stack.http, party)
    created = await retried_after_loss(
        stack,
        "/v1/consultations",
        create_body(party, message="A rash."),
        keyed(party.service, unique("create")),
    )
    cid = created.json()["id"]
    case = f"/v1/consultations/{cid}"
    replied = await retried_after_loss(
        stack, f"{case}/replies", {"body": "Cream."}, keyed(party.doctor, unique("r"))
    )
    followed = await retried_after_loss(
        stack, f"{case}/patient-replies", {"body": "Better."}, keyed(party.service, unique("p"))
    )
    closed = await retried_after_loss(
        stack, f"{case}/close", {"message": {"body": "Bye."}}, keyed(party.doctor, unique("c"))
    )

    assert [len(r.json()["messages"]) for r in (created, replied, followed, closed)] == [1, 2, 3, 4]
    assert closed.json()["status"] == "closed"
    assert await rows(stack.sessions, IdempotencyKey, consultation_id=cid) == 4
    assert await settled(stack, cid, FULL_LIFECYCLE) == FULL_LIFECYCLE


async def test_a_stopped_worker_gets_503_with_retry_after_and_reads_go_on(stack: Stack) -> None:
    party, cid = await case_awaiting_clinician(stack)
    headers = keyed(party.doctor, unique("reply"))
    stack.stop_worker()
    try:
        waited = await stack.http.post(
            f"/v1/consultations/{cid}/replies", json={"body": "Cream."}, headers=headers
        )
        read = await stack.http.get(f"/v1/consultations/{cid}", headers=party.doctor)
        inbox = await stack.http.get("/v1/inbox", headers=party.doctor)
        ready = await stack.http.get("/readyz")
    finally:
        stack.resume_worker()
    retried = await stack.http.post(
        f"/v1/consultations/{cid}/replies", json={"body": "Cream."}, headers=headers
    )

    assert assert_problem(waited, 503)["type"].endswith("command-not-taken")
    assert int(waited.headers["Retry-After"]) > 0
    assert read.status_code == inbox.status_code == ready.status_code == 200
    assert read.json()["status"] == "awaiting_clinician"
    assert retried.status_code == 200, retried.text
    assert [m["body"] for m in retried.json()["messages"]] == ["Q.", "Cream."]
    expected = {"messages": 2, "journal": 2, "notifications": 3, "charges": 1}
    assert await settled(stack, cid, expected) == expected


def refuse_connections(server: PostgresServer, url: str, allowed: bool) -> None:
    """ALLOW_CONNECTIONS off (and every open connection cut), or on again."""
    database = make_url(url).database
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )


async def test_an_unreachable_case_store_answers_503_everywhere_and_recovers(
    stack: Stack, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    party, cid = await case_awaiting_clinician(stack)
    caplog.set_level(logging.INFO, logger="econsult.api")
    refuse_connections(postgres_server, stack.database, allowed=False)
    try:
        answers = [
            await stack.http.get(f"/v1/consultations/{cid}", headers=party.doctor),
            await stack.http.get("/v1/inbox", headers=party.doctor),
            await stack.http.get(
                f"/v1/patients/{party.patient}/consultations", headers=party.service
            ),
            await stack.http.post(
                f"/v1/consultations/{cid}/replies",
                json={"body": "Cream."},
                headers=keyed(party.doctor, unique("reply")),
            ),
            await stack.http.post(
                "/v1/consultations", json=create_body(party, message="Q2."), headers=party.service
            ),
        ]
        ready = await stack.http.get("/readyz")
    finally:
        refuse_connections(postgres_server, stack.database, allowed=True)
    back = await eventually(
        lambda: stack.http.get(f"/v1/consultations/{cid}", headers=party.doctor),
        lambda response: response.status_code == 200,
        within=60,
    )

    async def recovery_logged() -> list[str]:
        return _logged(caplog, "database reachable again")

    await eventually(recovery_logged, lambda lines: len(lines) == 1)

    for answer in answers:
        assert_problem(answer, 503)
        assert int(answer.headers["Retry-After"]) > 0
    assert assert_problem(ready, 503)["checks"]["database"].startswith("unavailable")
    assert back.status_code == 200
    assert len(_logged(caplog, "database unreachable")) == 1
    assert len(_logged(caplog, "database reachable again")) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _logged(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(start)]
