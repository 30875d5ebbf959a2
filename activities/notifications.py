"""Notification activity: outbox row first (exactly one per event), then the sender."""

from __future__ import annotations

from temporalio import activity

from activities.adapters import NotificationSender
from domain.models import NotificationInput, NotificationResult
from store.records import Outbox


class NotificationActivities:
    def __init__(self, outbox: Outbox, sender: NotificationSender) -> None:
        self._outbox = outbox
        self._sender = sender

    @activity.defn
    async def send_notification(self, notification: NotificationInput) -> NotificationResult:
        # A fresh outbox row is unsent; only a retried attempt needs to ask.
        queued_now = await self._outbox.enqueue(notification)
        if queued_now or not await self._outbox.is_sent(notification.notification_key):
            # A crash between send and mark_sent resends once; the key lets a gateway dedupe.
            await self._sender.send(notification)
            await self._outbox.mark_sent(notification.notification_key)
        return NotificationResult(notification_key=notification.notification_key, delivered=True)
