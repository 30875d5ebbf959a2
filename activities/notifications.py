"""Notification delivery: outbox row first (exactly one per event), then the sender.

The row is written by the transaction that commits the event (`queued`); here only when it is
missing: a 1.0 run's timer event, or a case store restored from a backup older than the event.
One attempt (`NotificationDelivery.attempt`) serves the commit's first try and the activity's
retries alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.adapters import DeliveryRefusedError, NotificationSender
from domain.effects import NotificationInput, NotificationResult
from store.outbox import Outbox

# A receiver refused the notification for good (a final 4xx); the outbox row says which.
NOTIFICATION_REFUSED = "NotificationRefused"
# The commit's first attempt waits this long for the sender: the event's HTTP answer waits
# for it, and a slow receiver is left to the background delivery.
FIRST_ATTEMPT_SECONDS = 2.0

log = logging.getLogger("econsult.notifications")


class NotificationDelivery:
    """One attempt at sending a notification, counted on its outbox row."""

    def __init__(self, outbox: Outbox, sender: NotificationSender) -> None:
        self._outbox = outbox
        self._sender = sender

    async def attempt(
        self, notification: NotificationInput, *, fresh: bool, seconds: float | None = None
    ) -> None:
        """Returns once sent (now or before); raises DeliveryRefusedError once refused for
        good (now or before), the sender's failure otherwise. `fresh`: the row was written
        with its event and nothing tried it since, so the sender is asked straight away."""
        key = notification.notification_key
        if not fresh and not await self._outbox.enqueue(notification):
            settled = await self._outbox.settled(key)
            if settled.sent:
                return
            if settled.failed_status is not None:
                raise DeliveryRefusedError(settled.failed_status)
        try:
            # A crash between send and mark_sent resends once; the key lets a receiver dedupe.
            async with asyncio.timeout(seconds):
                await self._sender.send(notification)
        except DeliveryRefusedError as refused:
            await self._count(
                notification, partial(self._outbox.mark_failed, http_status=refused.status)
            )
            raise
        except Exception:
            await self._count(notification, self._outbox.count_attempt)
            raise
        await self._count(notification, self._outbox.mark_sent)

    async def first_attempt(
        self, notifications: list[NotificationInput], *, fresh: bool, until: float
    ) -> list[str]:
        """The commit's try at its event's notifications, each within FIRST_ATTEMPT_SECONDS and
        all by `until` (time.monotonic()): the keys it sent. The others are left to the
        background delivery, which asks the row how it stands: one refused for good here fails
        that activity at once, without a resend, so the refusal counts and alerts as any
        receiver's (econsult_activity_failures, NotificationRefused)."""
        sent = []
        for notification in notifications:
            key = notification.notification_key
            left = until - time.monotonic()
            if left <= 0:
                break
            try:
                await self.attempt(
                    notification, fresh=fresh, seconds=min(FIRST_ATTEMPT_SECONDS, left)
                )
            except Exception:
                # Counted (or marked refused) on its row; the background delivery goes on.
                log.warning("notification left to its delivery", extra={"notification_key": key})
                continue
            sent.append(key)
        return sent

    async def _count(
        self, notification: NotificationInput, mark: Callable[[str], Awaitable[bool]]
    ) -> None:
        """Count the attempt on the row. A first attempt trusts the event to have written it;
        a case store restored from a backup older than the event has not, so it is written
        again (unsent) and counted."""
        if not await mark(notification.notification_key):
            await self._outbox.enqueue(notification)
            await mark(notification.notification_key)


class NotificationActivities:
    def __init__(self, outbox: Outbox, sender: NotificationSender) -> None:
        self._outbox = outbox
        # Shared with the commit, which makes the first attempt.
        self.delivery = NotificationDelivery(outbox, sender)

    @activity.defn
    async def send_notification(self, notification: NotificationInput) -> NotificationResult:
        # A row written with its event is fresh on the first attempt; any other attempt writes
        # it if missing and asks how it stands (a retry after a crash, or a redelivery).
        fresh = notification.queued and activity.info().attempt == 1
        try:
            await self.delivery.attempt(notification, fresh=fresh)
        except DeliveryRefusedError as refused:
            raise _refused(refused) from refused
        return NotificationResult(notification_key=notification.notification_key, delivered=True)

    @activity.defn
    async def give_up_notification(self, notification: NotificationInput) -> None:
        """Note on the row that the workflow gave up sending it (no receiver took it within
        the week), so an operator may have it sent again."""
        await self._outbox.mark_given_up(notification.notification_key)


def _refused(refused: DeliveryRefusedError) -> ApplicationError:
    return ApplicationError(str(refused), type=NOTIFICATION_REFUSED, non_retryable=True)
