"""What a request handler needs, built once per app from settings (or injected by tests)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth import record_system_practice
from api.commands import ConsultationCommands, TemporalConnection
from api.inspection import Inspector
from api.outages import DATABASE, TEMPORAL, Outages
from api.rate_limits import PatientWriteLimit
from api.workers import WorkerPresence
from infra.settings import Settings
from store.access import AccessLog
from store.attachments import Attachments
from store.case_reads import ConsultationQueries, database_answers
from store.command_keys import CommandKeys
from store.directory import Directory
from store.dpop_proofs import DPoPProofs
from store.recipients import Recipients


@dataclass(frozen=True)
class Services:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    temporal: TemporalConnection
    commands: ConsultationCommands
    directory: Directory
    queries: ConsultationQueries
    attachments: Attachments
    access_log: AccessLog
    command_keys: CommandKeys
    outages: Outages
    workers: WorkerPresence
    recipients: Recipients
    dpop_proofs: DPoPProofs
    patient_writes: PatientWriteLimit
    inspector: Inspector

    @classmethod
    def build(
        cls,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        temporal: TemporalConnection,
        patient_writes: PatientWriteLimit,
    ) -> Services:
        return cls(
            settings=settings,
            sessions=sessions,
            temporal=temporal,
            commands=ConsultationCommands(temporal, settings.econsult_task_queue),
            directory=Directory(sessions),
            queries=ConsultationQueries(sessions),
            attachments=Attachments(sessions),
            access_log=AccessLog(sessions, practice_of_reader=record_system_practice),
            command_keys=CommandKeys(sessions),
            outages=Outages(
                {
                    DATABASE: lambda: database_answers(sessions),
                    TEMPORAL: lambda: temporal_answers(temporal),
                }
            ),
            workers=WorkerPresence(temporal, settings.econsult_task_queue),
            recipients=Recipients(sessions),
            dpop_proofs=DPoPProofs(sessions),
            patient_writes=patient_writes,
            inspector=Inspector.from_settings(settings),
        )

    async def database_answers(self) -> None:
        await database_answers(self.sessions)

    async def temporal_answers(self) -> None:
        await temporal_answers(self.temporal)


async def temporal_answers(temporal: TemporalConnection) -> None:
    """Raise unless the Temporal frontend reports serving (readiness)."""
    client = await temporal.client()
    if not await client.service_client.check_health():
        raise RuntimeError("Temporal reports not serving")


# async, though it awaits nothing: FastAPI runs a plain `def` dependency in its thread pool,
# a thread hop on every request.
async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


Deps = Annotated[Services, Depends(_services)]


FORGET_EXPIRED_KEYS_EVERY_SECONDS = 600.0
log = logging.getLogger("econsult.api")


async def forget_expired_keys(
    keys: CommandKeys, every_seconds: float = FORGET_EXPIRED_KEYS_EVERY_SECONDS
) -> None:
    """Delete expired Idempotency-Keys now and then; every replica may, the delete is harmless."""
    while True:
        try:
            await keys.forget_expired()
        except Exception as error:
            # An unreachable case store is logged by the requests that meet it.
            log.debug("expired keys not deleted", extra={"reason": type(error).__name__})
        await asyncio.sleep(every_seconds)
