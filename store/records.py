"""The service's records of effects: journal entries, notification outbox, charges."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models import (
    CopaymentOutcome,
    CopaymentStatus,
    JournalEntryInput,
    NotificationInput,
    Patient,
)
from store.idempotent import insert_once
from store.tables import Charge, JournalEntry, Notification


class JournalTable:
    """Default record-system adapter: the journal lives in the case store."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def write(self, entry: JournalEntryInput) -> str:
        values = entry.model_dump(mode="python")
        values.update(
            kind=entry.kind.value,
            author_role=entry.author_role.value,
            written_at=datetime.now(UTC),
        )
        async with self._sessions.begin() as session:
            await insert_once(session, JournalEntry, values, ["entry_key"])
        # The entry key is unique and stable, so it is the record reference (no re-read).
        return f"journal:{entry.entry_key}"


class Outbox:
    """Notifications waiting for (or done with) the sender: one row per event."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def enqueue(self, notification: NotificationInput) -> bool:
        values = notification.model_dump(mode="python")
        values.update(
            audience=notification.audience.value,
            event=notification.event.value,
            created_at=datetime.now(UTC),
            sent_at=None,
        )
        async with self._sessions.begin() as session:
            return await insert_once(session, Notification, values, ["notification_key"])

    async def is_sent(self, notification_key: str) -> bool:
        async with self._sessions() as session:
            sent_at = await session.scalar(
                select(Notification.sent_at).where(
                    Notification.notification_key == notification_key
                )
            )
            return sent_at is not None

    async def mark_sent(self, notification_key: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Notification)
                .where(Notification.notification_key == notification_key)
                .values(sent_at=datetime.now(UTC))
            )


class Charges:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record_once(
        self,
        consultation_id: str,
        patient: Patient,
        outcome: CopaymentOutcome,
        reason: str | None,
        clinician_id: str | None = None,
    ) -> CopaymentOutcome:
        """Record the settlement; if one exists already (a retry), return that one unchanged."""
        assert outcome.settled_at is not None
        async with self._sessions.begin() as session:
            await insert_once(
                session,
                Charge,
                {
                    "consultation_id": consultation_id,
                    "patient_id": patient.id,
                    "status": outcome.status.value,
                    "tariff": outcome.tariff,
                    "amount_nok": outcome.amount_nok,
                    "reason": reason,
                    "clinician_id": clinician_id,
                    "replied_at": outcome.settled_at,
                    "recorded_at": datetime.now(UTC),
                },
                ["consultation_id"],
            )
            row = await session.get(Charge, consultation_id)
            assert row is not None
            return CopaymentOutcome(
                status=CopaymentStatus(row.status),
                tariff=row.tariff,
                amount_nok=row.amount_nok,
                settled_at=row.replied_at,
            )
