"""Notifications as signed webhooks (Standard Webhooks), one POST per notification.

Patient events go to the portal backend, clinician and practice events to the practice's
system: its own webhook when its practice record names one, else the service-wide one. The
body carries ids, the event and the deadline only, as every notification does.
`webhook-id` is the notification key, stable across retries, so a receiver dedupes on it;
`webhook-timestamp` is the time of each attempt, so a late retry still passes a receiver's
freshness check. Every configured secret signs, so receivers verify across a rotation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import httpx
from standardwebhooks.webhooks import Webhook

from activities.adapters import (
    DeliveryRefusedError,
    LogSender,
    NotificationSender,
    refused_by_policy,
    refused_for_good,
)
from activities.endpoints import PracticeEndpoints, WebhookTarget
from domain.effects import Audience, NotificationInput
from domain.webhook_events import envelope_of, sandbox_test
from infra.outbound import OutboundRefusedError
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

    @classmethod
    def of_practice(cls, target: WebhookTarget) -> WebhookEndpoint:
        return cls(target.url, tuple(Webhook(key) for key in target.keys))

    def headers(self, message_id: str, body: str, at: datetime) -> dict[str, str]:
        signatures = " ".join(signer.sign(message_id, at, body) for signer in self.signers)
        return {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signatures,
        }


@dataclass(frozen=True)
class Sent:
    """Where a webhook was delivered: the endpoint's URL, whose it is (the practice's own or
    the service-wide one) and the receiver's 2xx status."""

    url: str
    endpoint: Literal["practice", "service"]
    status: int


def webhook_body(notification: NotificationInput) -> str:
    """The Standard Webhooks envelope of the event, as the OpenAPI document's `webhooks`
    describe it (domain/webhook_events.py)."""
    return envelope_of(notification).model_dump_json()


def sandbox_event_body(audience: Audience, practice_id: str | None, at: datetime) -> str:
    """The envelope of an `econsult.test` event (the sandbox's test events): who it is for and
    when it was sent, nothing else; the same model the document's `webhooks` shows."""
    return sandbox_test(audience, practice_id, at).model_dump_json()


class WebhookSender:
    """Sends each audience's notifications to its endpoint: clinician and practice events to
    the practice's own webhook when it has one, else to the service-wide endpoint of the
    audience; an audience without either is logged."""

    def __init__(
        self,
        endpoints: Mapping[Audience, WebhookEndpoint],
        fallback: NotificationSender | None = None,
        practices: PracticeEndpoints | None = None,
    ) -> None:
        self._endpoints = dict(endpoints)
        self._fallback = fallback or LogSender()
        self._practices = practices
        # The operator's endpoints as set; practices' own through the outbound policy.
        self._client: httpx.AsyncClient | None = None
        self._practice_client: httpx.AsyncClient | None = None

    async def _own_endpoint(
        self, audience: Audience, practice_id: str | None
    ) -> WebhookEndpoint | None:
        # The portal is one for every practice: patient events keep the service-wide endpoint.
        if audience != Audience.PATIENT and self._practices is not None:
            own = await self._practices.webhook(practice_id)
            if own is not None:
                return WebhookEndpoint.of_practice(own)
        return None

    def _client_for(self, practices: PracticeEndpoints | None) -> httpx.AsyncClient:
        if practices is not None:
            if self._practice_client is None:
                self._practice_client = practices.outbound.client(WEBHOOK_TIMEOUT)
            return self._practice_client
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT)
        return self._client

    async def close(self) -> None:
        for client in (self._client, self._practice_client):
            if client is not None:
                await client.aclose()

    async def send(self, notification: NotificationInput) -> None:
        sent = await self.post(
            notification.audience,
            notification.practice_id,
            notification.notification_key,
            webhook_body(notification),
        )
        if sent is None:
            await self._fallback.send(notification)

    async def post(
        self, audience: Audience, practice_id: str | None, message_id: str, body: str
    ) -> Sent | None:
        """Sign and POST `body` to the audience's endpoint (the practice's own, else the
        service-wide one); None when the audience has neither. Raises as `send` does."""
        own = await self._own_endpoint(audience, practice_id)
        endpoint = own or self._endpoints.get(audience)
        if endpoint is None:
            return None
        if own is None or self._practices is None:
            return await self._post(endpoint, None, message_id, practice_id, body)
        try:
            return await self._post(endpoint, self._practices, message_id, practice_id, body)
        except BaseException:
            # Failed or cut short: the practice's endpoint may be fixed since it was read, so
            # the next attempt reads it afresh.
            self._practices.forget(practice_id)
            raise

    async def _post(
        self,
        endpoint: WebhookEndpoint,
        practices: PracticeEndpoints | None,
        message_id: str,
        practice_id: str | None,
        body: str,
    ) -> Sent:
        client = self._client_for(practices)
        headers = endpoint.headers(message_id, body, datetime.now(UTC))
        try:
            # Connection errors propagate as they are: the activity is retried.
            response = await client.post(endpoint.url, content=body, headers=headers)
        except OutboundRefusedError as error:
            raise refused_by_policy(
                error, notification_key=message_id, practice_id=practice_id
            ) from error
        status = response.status_code
        log.info(
            "webhook answered",
            extra={
                "notification_key": message_id,
                "practice_id": practice_id,
                "http_status": status,
            },
        )
        if response.is_success:
            return Sent(endpoint.url, "practice" if practices is not None else "service", status)
        if refused_for_good(status):
            raise DeliveryRefusedError(status)
        raise ReceiverUnavailableError(f"webhook receiver answered HTTP {status}")


def service_endpoints(settings: Settings) -> dict[Audience, WebhookEndpoint]:
    """The service-wide endpoint of each audience whose URL is set."""
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
    return endpoints


def notification_sender(
    settings: Settings, practices: PracticeEndpoints | None = None
) -> NotificationSender:
    """Webhooks for the audiences whose endpoint is set, and for practices with their own;
    the log line for the others."""
    endpoints = service_endpoints(settings)
    if not endpoints and practices is None:
        return LogSender()
    return WebhookSender(endpoints, practices=practices)
