"""The API over real HTTP for tests, and builders: tokens, directory entries, files, and
waiting for effects."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from api.auth import Scope
from api.rate_limits import RateLimit
from dev.harness import tokens
from dev.harness.ports import serving
from domain.working_days import oslo_day
from infra.settings import Settings
from store.database import create_engine, create_session_factory
from tests.api import files
from tests.support import running_worker

SERVICE = Scope.SERVICE
CLINICIAN = Scope.CLINICIAN
ADMIN = Scope.ADMIN
PRACTICE = Scope.PRACTICE
RECORD_SYSTEM = Scope.RECORD_SYSTEM

bearer = tokens.bearer

# Small valid files of each kind, recognised and decoded by their content.
PNG = files.png()
PDF = files.pdf()

T = TypeVar("T")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def today() -> date:
    return oslo_day(datetime.now(UTC))


@dataclass
class Tokens:
    settings: Settings

    def signing_secret(self) -> str:
        """The secret the API under test verifies with (its settings must name one)."""
        if self.settings.auth_hs256_secret is None:
            raise LookupError("these settings have no AUTH_HS256_SECRET to sign test tokens with")
        return self.settings.auth_hs256_secret

    def mint(
        self,
        scope: str,
        *,
        sub: str = "portal",
        hpr: str | None = None,
        practice: str | None = None,
        expires_in: int | None = 300,
        audience: str | None = None,
        secret: str | None = None,
        algorithm: str = "HS256",
        **claims: Any,
    ) -> str:
        """A token signed with the API's secret unless a test passes a wrong one."""
        return tokens.mint(
            secret if secret is not None else self.signing_secret(),
            scope,
            sub,
            audience=audience or self.settings.auth_audience,
            expires_in=expires_in,
            hpr=hpr,
            practice=practice,
            algorithm=algorithm,
            **claims,
        )


@dataclass
class Party:
    """A test's own actors: a portal subject, a clinician with a substitute, a patient."""

    tokens: Tokens
    portal: str = field(default_factory=lambda: unique("portal"))
    clinician: str = field(default_factory=lambda: unique("hpr"))
    substitute: str = field(default_factory=lambda: unique("hpr-sub"))
    patient: str = field(default_factory=lambda: unique("patient"))
    practice: str = field(default_factory=lambda: unique("practice"))

    @property
    def service(self) -> dict[str, str]:
        return bearer(self.tokens.mint(SERVICE, sub=self.portal))

    @property
    def doctor(self) -> dict[str, str]:
        return bearer(self.tokens.mint(CLINICIAN, sub=self.clinician, hpr=self.clinician))

    @property
    def vikar(self) -> dict[str, str]:
        return bearer(self.tokens.mint(CLINICIAN, sub=self.substitute, hpr=self.substitute))

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.tokens.mint(ADMIN, sub="ops"))

    def practice_admin(self, practice: str | None = None) -> dict[str, str]:
        token = self.tokens.mint(
            PRACTICE, sub=unique("practice-admin"), practice=practice or self.practice
        )
        return bearer(token)

    def record_system(self, practice: str | None = None, sub: str = "epj") -> dict[str, str]:
        """The practice's record system, which fetches the attachments of its journal entries."""
        settings = self.tokens.settings
        token = tokens.record_system(
            self.tokens.signing_secret(),
            practice or self.practice,
            audience=settings.auth_audience,
            expires_in=300,
            subject=sub,
        )
        return bearer(token)

    def other_clinician(self) -> dict[str, str]:
        other = unique("hpr-other")
        return bearer(self.tokens.mint(CLINICIAN, sub=other, hpr=other))


@dataclass
class Api:
    """The API over real HTTP with its worker, store and Temporal client, and its tokens."""

    http: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    client: Client
    tokens: Tokens

    def party(self) -> Party:
        return Party(self.tokens)


@dataclass
class Operated(Api):
    """The API as operations see it: the spans it made, the worker's metrics."""

    spans: InMemorySpanExporter
    worker_metrics_url: str


@asynccontextmanager
async def api_over_http(
    client: Client,
    database_url: str,
    *,
    settings: dict[str, Any] | None = None,
    rate_limit: RateLimit | None = None,
    extra_routes: Callable[[FastAPI], None] | None = None,
    **worker_options: Any,
) -> AsyncIterator[Api]:
    """An in-process worker and the API (uvicorn, real HTTP) on `database_url`, each on its
    own task queue; `settings` and `rate_limit` adjust the API, `worker_options` the worker."""
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    try:
        async with running_worker(client, database_url, **worker_options) as task_queue:
            api_settings = Settings(
                database_url=database_url, econsult_task_queue=task_queue, **(settings or {})
            )
            app = create_app(api_settings, client=client, sessions=sessions, rate_limit=rate_limit)
            if extra_routes is not None:
                extra_routes(app)
            async with (
                serving(app) as base_url,
                httpx.AsyncClient(base_url=base_url, timeout=60) as http,
            ):
                yield Api(http, sessions, api_settings, client, Tokens(api_settings))
    finally:
        await engine.dispose()


@asynccontextmanager
async def api_serving(settings: Settings, client: Client | None = None) -> AsyncIterator[str]:
    """The API as `python -m api` builds it (own engine; own Temporal client unless given)."""
    async with serving(create_app(settings, client=client)) as base_url:
        yield base_url


def clinician_body(practice: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Dr. Fastlege",
        "practice_id": practice,
        "accepts_econsultations": True,
        "reply_within_working_days": 5,
        "substitute": None,
    }
    body.update(overrides)
    return body


async def seed_clinicians(
    http: httpx.AsyncClient, party: Party, *, substitute_active: bool = False, **overrides: Any
) -> None:
    """The substitute, then the clinician (with the substitute active today if asked)."""
    response = await http.put(
        f"/v1/clinicians/{party.substitute}",
        json=clinician_body(party.practice, name="Dr. Vikar"),
        headers=party.admin,
    )
    assert response.status_code in (200, 201), response.text
    substitute = None
    if substitute_active:
        substitute = {
            "clinician_id": party.substitute,
            "valid_from": (today() - timedelta(days=1)).isoformat(),
            "valid_to": (today() + timedelta(days=7)).isoformat(),
        }
    response = await http.put(
        f"/v1/clinicians/{party.clinician}",
        json=clinician_body(party.practice, substitute=substitute, **overrides),
        headers=party.admin,
    )
    assert response.status_code in (200, 201), response.text
    await relate(http, party)


async def relate(
    http: httpx.AsyncClient,
    party: Party,
    clinician: str | None = None,
    *,
    patient: str | None = None,
    **body: Any,
) -> httpx.Response:
    """Register the patient's relation to the clinician (regular GP since last year)."""
    payload = {"kind": "regular_gp", "valid_from": (today() - timedelta(days=365)).isoformat()}
    payload.update(body)
    response = await http.put(
        f"/v1/patients/{patient or party.patient}/relations/{clinician or party.clinician}",
        json=payload,
        headers=party.admin,
    )
    assert response.status_code in (200, 201), response.text
    return response


def create_body(party: Party, *, message: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient": {"id": party.patient, "birth_date": "1980-05-17", "frikort": False},
        "clinician_id": party.clinician,
        "recipient_id": party.clinician,
        "copayment_accepted": True,
    }
    if message is not None:
        body["message"] = {"body": message, "attachment_ids": []}
    body.update(overrides)
    return body


async def upload(
    http: httpx.AsyncClient, headers: dict[str, str], content: bytes = PNG, name: str = "x.png"
) -> httpx.Response:
    return await http.post("/v1/attachments", files={"file": (name, content)}, headers=headers)


async def create(
    http: httpx.AsyncClient, party: Party, *, message: str | None = "I have a rash.", **kw: Any
) -> dict[str, Any]:
    response = await http.post(
        "/v1/consultations", json=create_body(party, message=message, **kw), headers=party.service
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def case_with_attachment(
    http: httpx.AsyncClient, party: Party, message: str, *, name: str = "x.png"
) -> tuple[str, str]:
    """A new case of the party's, its clinicians seeded first, whose message carries one PNG
    the patient side uploaded as `name`: (case id, attachment id)."""
    await seed_clinicians(http, party)
    uploaded = await upload(http, party.service, PNG, name=name)
    assert uploaded.status_code == 201, uploaded.text
    attachment: str = uploaded.json()["id"]
    body = create_body(party, message=message)
    body["message"]["attachment_ids"] = [attachment]
    created = await http.post("/v1/consultations", json=body, headers=party.service)
    assert created.status_code == 201, created.text
    return str(created.json()["id"]), attachment


async def open_case(api: Api, party: Party, **create_kw: Any) -> str:
    """The id of a new consultation of the party's, its clinicians seeded first."""
    await seed_clinicians(api.http, party)
    return str((await create(api.http, party, **create_kw))["id"])


async def command(
    api: Api, cid: str, name: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> httpx.Response:
    """A command on the case (`POST /v1/consultations/{cid}/{name}`), answered as it is."""
    return await api.http.post(f"/v1/consultations/{cid}/{name}", json=body, headers=headers)


async def rows(sessions: async_sessionmaker[AsyncSession], model: Any, **where: Any) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(await session.scalar(query) or 0)


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float = 15
) -> T:
    """Poll until `done(probe())`: for effects the workflow makes in the background."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def settled_copayment(
    http: httpx.AsyncClient, consultation_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    """The case's co-payment once settled: a reply answers before settlement (in the background)."""
    case = await eventually(
        lambda: http.get(f"/v1/consultations/{consultation_id}", headers=headers),
        lambda got: got.json()["copayment"]["status"] != "pending",
    )
    copayment: dict[str, Any] = case.json()["copayment"]
    return copayment


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert problem["status"] == status
    return problem


async def message(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], body: str, **fields: Any
) -> dict[str, Any]:
    """A message with no attachments posted to `path` under the case; the case as answered (200)."""
    response = await http.post(
        f"/v1/consultations/{path}",
        json={"body": body, "attachment_ids": [], **fields},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer
