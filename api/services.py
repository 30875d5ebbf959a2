"""What a request handler needs, built once per app from settings (or injected by tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.commands import ConsultationCommands, TemporalConnection
from infra.settings import Settings
from store.access import AccessLog, IdempotencyKeys
from store.attachments import Attachments
from store.directory import Directory
from store.queries import ConsultationQueries, database_answers
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
    idempotency_keys: IdempotencyKeys
    recipients: Recipients

    @classmethod
    def build(
        cls,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        temporal: TemporalConnection,
    ) -> Services:
        return cls(
            settings=settings,
            sessions=sessions,
            temporal=temporal,
            commands=ConsultationCommands(temporal, settings.econsult_task_queue),
            directory=Directory(sessions),
            queries=ConsultationQueries(sessions),
            attachments=Attachments(sessions),
            access_log=AccessLog(sessions),
            idempotency_keys=IdempotencyKeys(sessions),
            recipients=Recipients(sessions),
        )

    async def database_answers(self) -> None:
        await database_answers(self.sessions)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


Deps = Annotated[Services, Depends(_services)]
