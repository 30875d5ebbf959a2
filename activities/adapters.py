"""Boundaries to systems outside this service: record system (EPJ), notifications, frikort."""

from __future__ import annotations

import logging
from datetime import date
from typing import Protocol

from domain.effects import JournalEntryInput, NotificationInput
from infra.outbound import OutboundRefusedError

log = logging.getLogger("econsult.notifications")


class RecordSystem(Protocol):
    """Writes a journal entry into the patient's record; must be idempotent on `entry_key`."""

    async def write(self, entry: JournalEntryInput) -> str: ...


class NotificationSender(Protocol):
    """Delivers one notification; gets `notification_key` to deduplicate on its side."""

    async def send(self, notification: NotificationInput) -> None: ...


class FrikortRegister(Protocol):
    """Whether a patient holds a frikort on a day (the real one asks Helfo's register).

    A real register answers per calendar year: a frikort lasts the rest of the year it is
    granted in and none carries into the next, so the answer for a day in January says
    nothing of December before it. Ask on the day of the charge, never for a period.
    """

    async def holds_frikort(self, patient_id: str, on_day: date) -> bool: ...


class DeliveryRefusedError(Exception):
    """The receiving system refused for good (a 4xx other than 408/429): retrying cannot help."""

    def __init__(self, status: int) -> None:
        super().__init__(f"refused with HTTP {status}")
        self.status = status


# Asking to be tried again (Standard Webhooks, and HTTP generally); any other 4xx is final.
RETRYABLE_STATUSES = frozenset({408, 429})


def refused_for_good(status: int) -> bool:
    return 400 <= status < 500 and status not in RETRYABLE_STATUSES


# What the row keeps when this service's outbound policy refused a practice's endpoint: nothing
# was sent, and the refusal is final (forbidden) until an operator fixes the endpoint (or
# OUTBOUND_ALLOWED_NETWORKS) and asks for a redelivery.
OUTBOUND_REFUSED_STATUS = 403
OUTBOUND_REFUSED_LINE = "practice endpoint refused by the outbound policy, not contacted"


def refused_by_policy(error: OutboundRefusedError, **keys: str | None) -> DeliveryRefusedError:
    """The policy's refusal as a final one, logged with the item's key for the operator."""
    log.warning(OUTBOUND_REFUSED_LINE, extra={**keys, "host": error.host, "reason": error.reason})
    return DeliveryRefusedError(OUTBOUND_REFUSED_STATUS)


class LogSender:
    """Default sender: the outbox row is the notification; a log line announces it (no content)."""

    async def send(self, notification: NotificationInput) -> None:
        log.info(
            "notification",
            extra={
                "consultation_id": notification.consultation_id,
                "audience": notification.audience.value,
                "notification_event": notification.event.value,
                "notification_key": notification.notification_key,
            },
        )
