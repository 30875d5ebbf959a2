"""Figures for operations, counted in the case store: by status, overdue, deadline breaches."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models import Audience, NotificationEvent, Status
from store.tables import Consultation, Notification

FINAL = [s.value for s in Status if s.is_final]


class OperationalFigures(BaseModel):
    by_status: dict[Status, int]
    # Open consultations past their reply deadline right now.
    overdue: int
    # Deadlines ever missed: the practice is told once per breach, and the outbox keeps the row.
    deadline_breaches: int
    # Notifications the sender has not (yet) delivered.
    notifications_undelivered: int


async def operational_figures(sessions: async_sessionmaker[AsyncSession]) -> OperationalFigures:
    async with sessions() as session:
        rows = await session.execute(
            select(Consultation.status, func.count()).group_by(Consultation.status)
        )
        by_status = {Status(status): int(n) for status, n in rows.tuples()}
        overdue = await session.scalar(
            select(func.count())
            .select_from(Consultation)
            .where(Consultation.overdue.is_(True), Consultation.status.not_in(FINAL))
        )
        breaches = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.event == NotificationEvent.OVERDUE.value,
                Notification.audience == Audience.PRACTICE.value,
            )
        )
        undelivered = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.sent_at.is_(None))
        )
    return OperationalFigures(
        by_status={status: by_status.get(status, 0) for status in Status},
        overdue=int(overdue or 0),
        deadline_breaches=int(breaches or 0),
        notifications_undelivered=int(undelivered or 0),
    )
