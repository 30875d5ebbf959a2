"""The service's records of effects: journal entries, notification outbox, charges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models import (
    CopaymentOutcome,
    CopaymentStatus,
    ExemptionCode,
    JournalEntryInput,
    NotificationInput,
    Patient,
)
from store.database import autocommit
from store.idempotent import insert_once
from store.tables import Charge, JournalEntry, Notification


@dataclass(frozen=True)
class JournalRow:
    entry: JournalEntryInput
    external_status: int | None
    external_id: str | None


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
        async with autocommit(self._sessions) as session:
            await insert_once(session, JournalEntry, values, ["entry_key"])
        # The entry key is unique and stable, so it is the record reference (no re-read).
        return f"journal:{entry.entry_key}"

    async def read(self, entry_key: str) -> JournalRow:
        async with self._sessions() as session:
            row = await session.scalar(
                select(JournalEntry).where(JournalEntry.entry_key == entry_key)
            )
            assert row is not None, "only journaled entries are forwarded"
            return JournalRow(
                entry=JournalEntryInput.model_validate(row, from_attributes=True),
                external_status=row.external_status,
                external_id=row.external_id,
            )

    async def mark_external(self, entry_key: str, status: int, external_id: str | None) -> None:
        """Keep the external record system's answer (and its resource id) with the entry."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(JournalEntry)
                .where(JournalEntry.entry_key == entry_key)
                .values(
                    external_status=status, external_id=external_id, external_at=datetime.now(UTC)
                )
            )


@dataclass(frozen=True)
class OutboxState:
    sent: bool
    failed_status: int | None


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
            attempts=0,
        )
        async with autocommit(self._sessions) as session:
            return await insert_once(session, Notification, values, ["notification_key"])

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

    async def mark_sent(self, notification_key: str) -> None:
        """Delivered (sent_at is the delivery time), counting the attempt that delivered it."""
        await self._count(notification_key, sent_at=datetime.now(UTC))

    async def count_attempt(self, notification_key: str) -> None:
        await self._count(notification_key)

    async def mark_failed(self, notification_key: str, http_status: int) -> None:
        await self._count(notification_key, failed_status=http_status, failed_at=datetime.now(UTC))

    async def _count(self, notification_key: str, **values: object) -> None:
        async with autocommit(self._sessions) as session:
            await session.execute(
                update(Notification)
                .where(Notification.notification_key == notification_key)
                .values(attempts=Notification.attempts + 1, **values)
            )


class BilledClinician(NamedTuple):
    """Who replied, and whether their specialist rate applied."""

    clinician_id: str
    specialist: bool


class Charges:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record_once(
        self,
        consultation_id: str,
        patient: Patient,
        outcome: CopaymentOutcome,
        billed: BilledClinician | None = None,
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
                    "exemption": outcome.exemption.value if outcome.exemption else None,
                    "exemption_note": outcome.exemption_note,
                    "replied_at": outcome.settled_at,
                    "recorded_at": datetime.now(UTC),
                    "billed_clinician_id": billed.clinician_id if billed else None,
                    "specialist_rate": billed.specialist if billed else None,
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
                exemption=ExemptionCode(row.exemption) if row.exemption else None,
                exemption_note=row.exemption_note,
            )
