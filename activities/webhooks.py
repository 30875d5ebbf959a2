"""Notifications as signed webhooks (Standard Webhooks), one POST per notification.

Patient events go to the portal backend, clinician and practice events to the practice's
system. The body carries ids, the event and the deadline only, as every notification does.
`webhook-id` is the notification key, stable across retries, so a receiver dedupes on it;
`webhook-timestamp` is the time of each attempt, so a late retry still passes a receiver's
freshness check. Every configured secret signs, so receivers verify across a rotation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from activities.adapters import (
    DeliveryRefusedError,
    LogSender,
    NotificationSender,
    refused_for_good,
)
from domain.effects import Audience, NotificationInput
from infra.settings import Settings

log = logging.getLogger("econsult.webhooks")

# Inside the notification activity's start-to-close timeout, so a hung receiver fails the
# attempt (and is retried) instead of timing out the whole activity.
WEBHOOK_TIMEOUT = httpx.Timeout(6.0, connect=2.0)


class ReceiverUnavailableError(Exception):
    """A 5xx, 408, 429 or redirect: the activity's retry policy tries again."""


@dataclass(frozen=True)
class WebhookEndpoint:
    url: str
    signers: tuple[Webhook, ...]

    @classmethod
    def from_setting(cls, url: str, secrets: str) -> WebhookEndpoint:
        keys = [key.strip() for key in secrets.split(",") if key.strip()]
        if not keys or not all(key.startswith("whsec_") for key in keys):
            raise ValueError("webhook secrets are comma-separated whsec_ keys")
        return cls(url, tuple(Webhook(key) for key in keys))

    def headers(self, message_id: str, body: str, at: datetime) -> dict[str, str]:
        signatures = " ".join(signer.sign(message_id, at, body) for signer in self.signers)
        return {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signatures,
        }


def webhook_body(notification: NotificationInput) -> str:
    """The Standard Webhooks envelope around the notification's ids, event and deadline."""
    data = notification.model_dump(mode="json", exclude={"notification_key"})
    envelope = {
        "type": f"econsult.{notification.event.value}",
        "timestamp": data["occurred_at"],
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":"))


class WebhookSender:
    """Sends each audience's notifications to its endpoint; unconfigured audiences are logged."""

    def __init__(
        self,
        endpoints: Mapping[Audience, WebhookEndpoint],
        fallback: NotificationSender | None = None,
    ) -> None:
        self._endpoints = dict(endpoints)
        self._fallback = fallback or LogSender()
        self._client: httpx.AsyncClient | None = None

    async def send(self, notification: NotificationInput) -> None:
        endpoint = self._endpoints.get(notification.audience)
        if endpoint is None:
            await self._fallback.send(notification)
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT)
        body = webhook_body(notification)
        headers = endpoint.headers(notification.notification_key, body, datetime.now(UTC))
        # Connection errors propagate as they are: the activity is retried.
        response = await self._client.post(endpoint.url, content=body, headers=headers)
        status = response.status_code
        log.info(
            "webhook answered",
            extra={"notification_key": notification.notification_key, "http_status": status},
        )
        if response.is_success:
            return
        if refused_for_good(status):
            raise DeliveryRefusedError(status)
        raise ReceiverUnavailableError(f"webhook receiver answered HTTP {status}")


def notification_sender(settings: Settings) -> NotificationSender:
    """Webhooks for the audiences whose endpoint is set; the log line for the others."""
    endpoints: dict[Audience, WebhookEndpoint] = {}
    if settings.webhook_portal_url and settings.webhook_portal_secrets:
        portal = WebhookEndpoint.from_setting(
            settings.webhook_portal_url, settings.webhook_portal_secrets
        )
        endpoints[Audience.PATIENT] = portal
    if settings.webhook_practice_url and settings.webhook_practice_secrets:
        practice = WebhookEndpoint.from_setting(
            settings.webhook_practice_url, settings.webhook_practice_secrets
        )
        endpoints[Audience.CLINICIAN] = endpoints[Audience.PRACTICE] = practice
    return WebhookSender(endpoints) if endpoints else LogSender()
