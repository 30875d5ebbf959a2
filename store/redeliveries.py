"""Refused notifications and journal entries, reopened for an operator's redelivery.

A receiver's final refusal (a 4xx) is kept on the row: `notifications.failed_status`,
`journal_entries.external_status`; a notification given up on after a week of retries has
`failed_at` without a status. Reopening clears it, so the ordinary send activity sends
the row again, and counts the redelivery on the row, so one request reopens it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.effects import JournalForward, NotificationInput
from store.database import autocommit
from store.tables import Consultation, JournalEntry, Notification

# Kept statuses are the record system's 200 or 201, or its final refusal.
FIRST_REFUSAL_STATUS = 400


class Delivery(StrEnum):
    DELIVERED = "delivered"
    REFUSED = "refused"
    # A notification no receiver took within the week it was retried, without a refusal.
    GIVEN_UP = "given_up"
    # Not delivered yet: being retried (or, without a receiver, kept only here).
    PENDING = "pending"


@dataclass(frozen=True)
class DeliveryRecord:
    delivery: Delivery
    redeliveries: int


class Redeliveries:
    """What an operator's redelivery reads and reopens: one row by its key."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def notification(self, notification_key: str) -> DeliveryRecord | None:
        async with autocommit(self._sessions) as connection:
            row = (
                await connection.execute(
                    select(
                        Notification.sent_at,
                        Notification.failed_status,
                        Notification.failed_at,
                        Notification.redeliveries,
                    ).where(Notification.notification_key == notification_key)
                )
            ).one_or_none()
        if row is None:
            return None
        if row.sent_at is not None:
            delivery = Delivery.DELIVERED
        elif row.failed_status is not None:
            delivery = Delivery.REFUSED
        elif row.failed_at is not None:
            delivery = Delivery.GIVEN_UP
        else:
            delivery = Delivery.PENDING
        return DeliveryRecord(delivery, row.redeliveries)

    async def journal_entry(self, entry_key: str) -> DeliveryRecord | None:
        async with autocommit(self._sessions) as connection:
            row = (
                await connection.execute(
                    select(JournalEntry.external_status, JournalEntry.redeliveries).where(
                        JournalEntry.entry_key == entry_key
                    )
                )
            ).one_or_none()
        if row is None:
            return None
        if row.external_status is None:
            return DeliveryRecord(Delivery.PENDING, row.redeliveries)
        refused = row.external_status >= FIRST_REFUSAL_STATUS
        return DeliveryRecord(Delivery.REFUSED if refused else Delivery.DELIVERED, row.redeliveries)

    async def reopen_notification(
        self, notification_key: str, redelivery: int
    ) -> NotificationInput | None:
        """The refused (or given up) notification made unsent again as redelivery number
        `redelivery`; None when it was neither (nothing to send). A retry of the same
        redelivery answers it again."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Notification)
                .where(
                    Notification.notification_key == notification_key,
                    # Refused for good, or given up on: failed_at is set for both.
                    Notification.sent_at.is_(None),
                    Notification.failed_at.is_not(None),
                    Notification.redeliveries < redelivery,
                )
                .values(failed_status=None, failed_at=None, redeliveries=redelivery)
            )
            row = await session.scalar(
                select(Notification).where(Notification.notification_key == notification_key)
            )
            if row is None or row.redeliveries != redelivery:
                return None
            # The outbox row does not keep the practice that routes it; its case does (the
            # notification was made with the case's practice), so a practice's own webhook
            # gets it again rather than the service-wide endpoint.
            practice_id = await session.scalar(
                select(Consultation.practice_id).where(Consultation.id == row.consultation_id)
            )
            notification = NotificationInput.model_validate(row, from_attributes=True)
            return notification.model_copy(update={"practice_id": practice_id})

    async def reopen_journal_entry(self, entry_key: str, redelivery: int) -> JournalForward | None:
        """The refused entry made unforwarded again as redelivery number `redelivery`; None
        when it was not refused. A retry of the same redelivery answers it again."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(JournalEntry)
                .where(
                    JournalEntry.entry_key == entry_key,
                    JournalEntry.external_status >= FIRST_REFUSAL_STATUS,
                    JournalEntry.redeliveries < redelivery,
                )
                .values(
                    external_status=None,
                    external_id=None,
                    external_at=None,
                    redeliveries=redelivery,
                )
            )
            redeliveries = await session.scalar(
                select(JournalEntry.redeliveries).where(JournalEntry.entry_key == entry_key)
            )
        return JournalForward(entry_key=entry_key) if redeliveries == redelivery else None
