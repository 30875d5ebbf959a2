"""Notification activity: outbox row first (exactly one per event), then the sender.

The row is written by the transaction that commits the event (`queued`); here only when it is
missing: a 1.0 run's timer event, or a case store restored from a backup older than the event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.adapters import DeliveryRefusedError, NotificationSender
from domain.effects import NotificationInput, NotificationResult
from store.outbox import Outbox

# A receiver refused the notification for good (a final 4xx); the outbox row says which.
NOTIFICATION_REFUSED = "NotificationRefused"


class NotificationActivities:
    def __init__(self, outbox: Outbox, sender: NotificationSender) -> None:
        self._outbox = outbox
        self._sender = sender

    @activity.defn
    async def send_notification(self, notification: NotificationInput) -> NotificationResult:
        key = notification.notification_key
        # A row written with its event is fresh on the first attempt; any other attempt writes
        # it if missing and asks how it stands (a retry after a crash, or a redelivery).
        fresh = notification.queued and activity.info().attempt == 1
        if not fresh and not await self._outbox.enqueue(notification):
            settled = await self._outbox.settled(key)
            if settled.sent:
                return NotificationResult(notification_key=key, delivered=True)
            if settled.failed_status is not None:
                raise _refused(DeliveryRefusedError(settled.failed_status))
        try:
            # A crash between send and mark_sent resends once; the key lets a receiver dedupe.
            await self._sender.send(notification)
        except DeliveryRefusedError as refused:
            await self._count(
                notification, partial(self._outbox.mark_failed, http_status=refused.status)
            )
            raise _refused(refused) from refused
        except Exception:
            await self._count(notification, self._outbox.count_attempt)
            raise
        await self._count(notification, self._outbox.mark_sent)
        return NotificationResult(notification_key=key, delivered=True)

    @activity.defn
    async def give_up_notification(self, notification: NotificationInput) -> None:
        """Note on the row that the workflow gave up sending it (no receiver took it within
        the week), so an operator may have it sent again."""
        await self._outbox.mark_given_up(notification.notification_key)

    async def _count(
        self, notification: NotificationInput, mark: Callable[[str], Awaitable[bool]]
    ) -> None:
        """Count the attempt on the row. A first attempt trusts the event to have written it;
        a case store restored from a backup older than the event has not, so it is written
        again (unsent) and counted."""
        if not await mark(notification.notification_key):
            await self._outbox.enqueue(notification)
            await mark(notification.notification_key)


def _refused(refused: DeliveryRefusedError) -> ApplicationError:
    return ApplicationError(str(refused), type=NOTIFICATION_REFUSED, non_retryable=True)
