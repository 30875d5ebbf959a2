"""Figures for operations, kept in the case store: by status, overdue, deadline breaches.

Triggers on consultations and notifications keep them as a ledger of deltas in the writers'
own transactions (store/migrations/versions/0006_figure_counts.py), so reading them sums a
few hundred rows at most, however many consultations there are, and the sums are exact for
the committed state the read sees.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models import Status
from store.tables import FigureCount

# The ledger's figure names, as the triggers write them.
STATUS_FIGURE = "status:{}"
OVERDUE = "overdue"
DEADLINE_BREACHES = "deadline_breaches"
NOTIFICATIONS_UNDELIVERED = "notifications_undelivered"


class OperationalFigures(BaseModel):
    by_status: dict[Status, int]
    # Open consultations past their reply deadline right now.
    overdue: int
    # Deadlines ever missed: the practice is told once per breach, and the outbox keeps the row.
    deadline_breaches: int
    # Notifications the sender has not (yet) delivered.
    notifications_undelivered: int


async def operational_figures(sessions: async_sessionmaker[AsyncSession]) -> OperationalFigures:
    """All figures from one statement, so they agree with one another."""
    async with sessions() as session:
        rows = await session.execute(
            select(FigureCount.figure, func.sum(FigureCount.n)).group_by(FigureCount.figure)
        )
        counts = {figure: int(n) for figure, n in rows.tuples()}
    return OperationalFigures(
        by_status={status: counts.get(STATUS_FIGURE.format(status.value), 0) for status in Status},
        overdue=counts.get(OVERDUE, 0),
        deadline_breaches=counts.get(DEADLINE_BREACHES, 0),
        notifications_undelivered=counts.get(NOTIFICATIONS_UNDELIVERED, 0),
    )
