"""Notification activity: outbox row first (exactly one per event), then the sender."""

from __future__ import annotations

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
        # A fresh outbox row is unsent; only a retried attempt needs to ask.
        queued_now = await self._outbox.enqueue(notification)
        if not queued_now:
            settled = await self._outbox.settled(key)
            if settled.sent:
                return NotificationResult(notification_key=key, delivered=True)
            if settled.failed_status is not None:
                raise _refused(DeliveryRefusedError(settled.failed_status))
        try:
            # A crash between send and mark_sent resends once; the key lets a receiver dedupe.
            await self._sender.send(notification)
        except DeliveryRefusedError as refused:
            await self._outbox.mark_failed(key, refused.status)
            raise _refused(refused) from refused
        except Exception:
            await self._outbox.count_attempt(key)
            raise
        await self._outbox.mark_sent(key)
        return NotificationResult(notification_key=key, delivered=True)


def _refused(refused: DeliveryRefusedError) -> ApplicationError:
    return ApplicationError(str(refused), type=NOTIFICATION_REFUSED, non_retryable=True)
