"""Builders and read-backs shared by the tests."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from dev.harness.ports import free_port
from dev.harness.processes import BIN, Processes
from domain.effects import JournalEntryInput, JournalEntryKind
from domain.models import (
    ConsultationStart,
    ConsultationView,
    MessageContent,
    ReplyCommand,
    Role,
    consultation_workflow_id,
)
from domain.parties import Patient
from infra.logs import JsonFormatter, RedactCredentials
from infra.settings import Settings
from infra.temporal import data_converter
from store.database import create_engine, create_session_factory
from store.directory import Directory, DirectoryEntry, Relation, RelationKind, Substitute
from store.tables import Charge, Consultation, JournalEntry, Message, Notification
from worker import build_worker
from workflows import search_attributes
from workflows.econsultation import EConsultation

CLINICIAN = "9100001"
SUBSTITUTE = "9100002"
PRACTICE = "practice-1"
# new_start's patient, whose regular GP seed_directory registers as CLINICIAN.
PATIENT = "patient-1"


async def seed_directory(
    sessions: async_sessionmaker[AsyncSession],
    *,
    reply_within: int = 5,
    substitute: Substitute | None = None,
    accepts: bool = True,
) -> None:
    directory = Directory(sessions)
    await directory.put(
        DirectoryEntry(
            id=SUBSTITUTE, name="Dr. Vikar", practice_id=PRACTICE, accepts_econsultations=True
        )
    )
    await directory.put(
        DirectoryEntry(
            id=CLINICIAN,
            name="Dr. Fastlege",
            practice_id=PRACTICE,
            accepts_econsultations=accepts,
            reply_within_working_days=reply_within,
            substitute=substitute,
        )
    )
    await relate(sessions, PATIENT, CLINICIAN)


@asynccontextmanager
async def seeded_store(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The case store at `url` with seed_directory's clinicians, its engine disposed after."""
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    await seed_directory(sessions)
    try:
        yield sessions
    finally:
        await engine.dispose()


async def relate(
    sessions: async_sessionmaker[AsyncSession],
    patient_id: str,
    clinician_id: str,
    kind: RelationKind = RelationKind.REGULAR_GP,
) -> None:
    """An open-ended relation since long ago: the patient may write to the clinician."""
    await Directory(sessions).put_relation(
        Relation(
            patient_id=patient_id, clinician_id=clinician_id, kind=kind, valid_from=date(2000, 1, 1)
        )
    )


def new_start(
    *, message: str | None = "I have had a rash for two weeks.", **overrides: Any
) -> ConsultationStart:
    fields: dict[str, Any] = {
        "consultation_id": uuid.uuid4().hex,
        "patient": Patient(id=PATIENT, birth_date=date(1980, 5, 17)),
        "clinician_id": CLINICIAN,
        "recipient_id": CLINICIAN,
        "copayment_accepted": True,
        "message": MessageContent(body=message) if message else None,
    }
    fields.update(overrides)
    return ConsultationStart(**fields)


# A patient's national identity number, as a record system reads it in a journal entry.
NATIONAL_ID = "01017012345"


def journal_entry(**fields: Any) -> JournalEntryInput:
    """A patient's message to journal, of a consultation of its own; `fields` change it."""
    key = uuid.uuid4().hex
    kind = JournalEntryKind(fields.get("kind", JournalEntryKind.MESSAGE))
    return JournalEntryInput.model_validate(
        {
            "entry_key": f"{kind.value}:{key}",
            "consultation_id": f"case-{key}",
            "patient_id": NATIONAL_ID,
            "kind": kind,
            "author_role": Role.PATIENT,
            "author_id": NATIONAL_ID,
            "text": "Text of the entry.",
            "occurred_at": datetime(2027, 3, 24, 8, 0, tzinfo=UTC),
            **fields,
        }
    )


def content(body: str = "Thank you, see answer.") -> MessageContent:
    return MessageContent(body=body)


def reply(role: Role, author_id: str, body: str, **options: Any) -> ReplyCommand:
    """A reply without attachments; `options` are the command's other fields (close, ...)."""
    return ReplyCommand(author_role=role, author_id=author_id, message=content(body), **options)


async def start(
    client: Client, task_queue: str, start: ConsultationStart
) -> WorkflowHandle[EConsultation, ConsultationView]:
    return await client.start_workflow(
        EConsultation.run,
        start,
        id=consultation_workflow_id(start.consultation_id),
        task_queue=task_queue,
    )


@asynccontextmanager
async def running_worker(
    client: Client, database_url: str, task_queue: str | None = None, **kwargs: Any
) -> AsyncIterator[str]:
    task_queue = task_queue or f"econsultation-test-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=database_url, econsult_task_queue=task_queue)
    async with build_worker(client, settings, **kwargs):
        yield task_queue


async def case_row(
    sessions: async_sessionmaker[AsyncSession], consultation_id: str
) -> Consultation | None:
    """The case row as written, to check what was recorded."""
    async with sessions() as session:
        return await session.get(Consultation, consultation_id)


async def count(
    sessions: async_sessionmaker[AsyncSession], model: Any, consultation_id: str
) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(model)
                .where(model.consultation_id == consultation_id)
            )
            or 0
        )


async def effects(
    sessions: async_sessionmaker[AsyncSession], consultation_id: str
) -> dict[str, int]:
    """How many messages, journal entries, notifications and charges a consultation left."""
    return {
        "messages": await count(sessions, Message, consultation_id),
        "journal": await count(sessions, JournalEntry, consultation_id),
        "notifications": await count(sessions, Notification, consultation_id),
        "charges": await count(sessions, Charge, consultation_id),
    }


async def effects_when_quiet(
    sessions: async_sessionmaker[AsyncSession], consultation_id: str
) -> dict[str, int]:
    """Effects once background notifications have landed (unchanged over a few reads)."""
    last, stable = await effects(sessions, consultation_id), 0
    while stable < 4:
        await asyncio.sleep(0.05)
        current = await effects(sessions, consultation_id)
        stable = stable + 1 if current == last else 0
        last = current
    return last


async def rows_of(
    sessions: async_sessionmaker[AsyncSession], model: Any, consultation_id: str
) -> list[Any]:
    """A consultation's rows of one effect table, in the order they were written."""
    async with sessions() as session:
        result = await session.scalars(
            select(model).where(model.consultation_id == consultation_id).order_by(model.id)
        )
        return list(result)


async def notifications(
    sessions: async_sessionmaker[AsyncSession], consultation_id: str
) -> list[Notification]:
    return await rows_of(sessions, Notification, consultation_id)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temporal_address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


def closed_temporal_address() -> str:
    """An address where nothing listens: Temporal made really unreachable."""
    return f"127.0.0.1:{free_port()}"


async def register_search_attributes(env: WorkflowEnvironment) -> None:
    kinds = {
        "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
        "BOOL": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    }
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: kinds[key.indexed_value_type.name] for key in search_attributes.ALL
            },
        )
    )


@asynccontextmanager
async def time_skipping_environment() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(Settings()),
        test_server_existing_path=shutil.which("temporal-test-server", path=str(BIN)),
    )
    try:
        await register_search_attributes(env)
        yield env
    finally:
        await env.shutdown()


def property_settings(max_examples: int, **more: Any) -> hypothesis.settings:
    """Hypothesis as the suite runs it over real HTTP: the same examples every run, no
    deadline, and the first failing example reported as found (shrinking would blow the time
    budget)."""
    return hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        **more,
    )


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
    handler.addFilter(RedactCredentials())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


WORKER_STARTS_WITHIN = 60.0


def worker_env(temporal: str, database_url: str, task_queue: str, **extra: str) -> dict[str, str]:
    """The environment of a `python worker.py` serving `task_queue` against the test servers."""
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal,
        "DATABASE_URL": database_url,
        "ECONSULT_TASK_QUEUE": task_queue,
        "WORKER_METRICS_ADDRESS": "",
        **extra,
    }


class WorkerProcess:
    """`python worker.py` in its own process, as production runs it, one of `processes`; its
    JSON log lines read back from its log file. `env` is read at each (re)start."""

    def __init__(
        self,
        processes: Processes,
        env: dict[str, str],
        name: str = "worker",
        script: str = "worker.py",
    ) -> None:
        self.processes = processes
        self.env = env
        self.name = name
        # Another checkout's worker.py runs that checkout's code: its folder is first on sys.path.
        self.script = script
        self._readies_before = 0

    def start(self) -> None:
        self._readies_before = self.logged().count("worker ready")
        self.processes.start(self.name, [sys.executable, self.script], self.env)

    @property
    def events(self) -> list[dict[str, Any]]:
        log = self.processes.log(self.name)
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        return [_event(line) for line in lines if line.strip()]

    def logged(self) -> list[str]:
        return [str(e.get("event")) for e in self.events if e.get("logger") == "econsult.worker"]

    async def ready(self) -> None:
        """Until this start says `worker ready`."""
        async with asyncio.timeout(WORKER_STARTS_WITHIN):
            while self.logged().count("worker ready") == self._readies_before:
                assert self.name not in self.processes.exited(), self.events
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        self.processes.kill(self.name)

    def pause(self) -> None:
        self.processes.pause(self.name)

    def resume(self) -> None:
        self.processes.resume(self.name)

    async def terminate(self) -> int:
        """SIGTERM, as an orchestrator stops it; its exit code (SIGKILL's if it hangs)."""
        return await asyncio.to_thread(self.processes.stop, self.name)


def _event(line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return {"event": line.strip()}
    return event if isinstance(event, dict) else {"event": line.strip()}


@asynccontextmanager
async def worker_process(env: dict[str, str], logs: Path) -> AsyncIterator[WorkerProcess]:
    """A started, ready worker process logging into `logs`; killed if still running after."""
    with Processes(logs) as processes:
        worker = WorkerProcess(processes, env)
        worker.start()
        try:
            await worker.ready()
            yield worker
        finally:
            if worker.name not in processes.exited():
                worker.kill()
