"""Redelivery activities: reopen a refused notification or journal entry for its send activity."""

from __future__ import annotations

from temporalio import activity

from domain.effects import JournalForward, NotificationInput, Redeliver
from store.redeliveries import Redeliveries


class RedeliveryActivities:
    def __init__(self, redeliveries: Redeliveries) -> None:
        self._redeliveries = redeliveries

    @activity.defn
    async def reopen_notification(self, request: Redeliver) -> NotificationInput | None:
        """The refused notification, unsent again for this redelivery; None if not refused."""
        return await self._redeliveries.reopen_notification(request.key, request.redelivery)

    @activity.defn
    async def reopen_journal_entry(self, request: Redeliver) -> JournalForward | None:
        """The refused entry, unforwarded again for this redelivery; None if not refused."""
        return await self._redeliveries.reopen_journal_entry(request.key, request.redelivery)
