"""The notification outbox: one row per event, counting the sender's attempts until delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from domain.effects import NotificationInput
from store.database import autocommit
from store.idempotent import insert_once
from store.tables import Notification


@dataclass(frozen=True)
class OutboxState:
    sent: bool
    failed_status: int | None


DETAILS = {"copayment", "journal_entry"}


def row(notification: NotificationInput) -> dict[str, object]:
    """The outbox row of a notification, unsent."""
    # The practice routes the delivery; the consultation row already says which it is. Whether
    # the row was written with its event is the delivery's business, not the row's.
    values = notification.model_dump(mode="python", exclude={"practice_id", "queued", *DETAILS})
    # What an event carries besides ids is kept as JSON; only the two events that carry it
    # write these columns (0017), so every other row is written as before them.
    for detail, value in notification.model_dump(mode="json", include=DETAILS).items():
        if value is not None:
            values[detail] = value
    values.update(
        audience=notification.audience.value,
        event=notification.event.value,
        created_at=datetime.now(UTC),
        sent_at=None,
        attempts=0,
    )
    return values


async def queue(session: AsyncSession | AsyncConnection, notification: NotificationInput) -> bool:
    """Insert the notification's row once (by its key), in the caller's transaction."""
    return await insert_once(session, Notification, row(notification), ["notification_key"])


class Outbox:
    """Notifications waiting for (or done with) the sender: one row per event."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def enqueue(self, notification: NotificationInput) -> bool:
        async with autocommit(self._sessions) as session:
            return await queue(session, notification)

    async def settled(self, notification_key: str) -> OutboxState:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Notification.sent_at, Notification.failed_status).where(
                        Notification.notification_key == notification_key
                    )
                )
            ).one()
            return OutboxState(sent=row.sent_at is not None, failed_status=row.failed_status)

    async def mark_sent(self, notification_key: str) -> bool:
        """Delivered (sent_at is the delivery time), counting the attempt that delivered it.

        This and the two below answer False when the row is missing, so the caller can write it.
        """
        return await self._count(notification_key, sent_at=datetime.now(UTC))

    async def count_attempt(self, notification_key: str) -> bool:
        return await self._count(notification_key)

    async def mark_failed(self, notification_key: str, http_status: int) -> bool:
        return await self._count(
            notification_key, failed_status=http_status, failed_at=datetime.now(UTC)
        )

    async def mark_given_up(self, notification_key: str) -> None:
        """Given up on without a final refusal: `failed_at` set, `failed_status` left empty.
        Only a row still unsent and unrefused; a repeat changes nothing."""
        async with autocommit(self._sessions) as session:
            await session.execute(
                update(Notification)
                .where(
                    Notification.notification_key == notification_key,
                    Notification.sent_at.is_(None),
                    Notification.failed_status.is_(None),
                    Notification.failed_at.is_(None),
                )
                .values(failed_at=datetime.now(UTC))
            )

    async def _count(self, notification_key: str, **values: object) -> bool:
        async with autocommit(self._sessions) as session:
            result = await session.execute(
                update(Notification)
                .where(Notification.notification_key == notification_key)
                .values(attempts=Notification.attempts + 1, **values)
            )
            return bool(result.rowcount)
