"""Builders and read-backs shared by the tests."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle

from domain.models import (
    ConsultationStart,
    MessageContent,
    Patient,
    consultation_workflow_id,
)
from infra.settings import Settings
from store.directory import Directory, DirectoryEntry, Relation, RelationKind, Substitute
from store.tables import Charge, JournalEntry, Message, Notification
from worker import build_worker
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


def content(body: str = "Thank you, see answer.") -> MessageContent:
    return MessageContent(body=body)


async def start(
    client: Client, task_queue: str, start: ConsultationStart
) -> WorkflowHandle[Any, Any]:
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
