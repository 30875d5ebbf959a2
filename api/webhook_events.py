"""The OpenAPI document's `webhooks`: every event the service sends, from the models the sender
serialises (domain/webhook_events.py), with its headers, who receives it and an example."""

# No `from __future__ import annotations`: FastAPI reads each receiver's annotations at
# runtime, and they name the envelope model of the loop that made the receiver.

import inspect
from enum import Enum
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header

from api.openapi import CLINICIAN, PORTAL, PRACTICE
from domain.effects import Audience
from domain.webhook_events import ENVELOPES, Envelope, example

RECEIVERS = {
    Audience.PATIENT: "the patient portal backend (`WEBHOOK_PORTAL_URL`)",
    Audience.CLINICIAN: (
        "the clinician's practice system: the practice's own webhook, else `WEBHOOK_PRACTICE_URL`"
    ),
    Audience.PRACTICE: (
        "the practice's system: the practice's own webhook, else `WEBHOOK_PRACTICE_URL`"
    ),
}
TAG_OF = {Audience.PATIENT: PORTAL, Audience.CLINICIAN: CLINICIAN, Audience.PRACTICE: PRACTICE}

DELIVERY = (
    "Signed as Standard Webhooks: verify `webhook-signature` over `webhook-id`, "
    "`webhook-timestamp` and the raw body with one of your `whsec_` secrets, and dedupe on "
    "`webhook-id`, which is the same on every retry of the event."
)
ANSWERS: dict[int | str, dict[str, Any]] = {
    "2XX": {"description": "Taken; never sent again."},
    "4XX": {
        "description": (
            "Refused for good (answer 2xx to a type you do not handle): kept for an operator's "
            "redelivery, not retried. 408 and 429 are retried as a 5xx is."
        )
    },
    "5XX": {
        "description": (
            "Retried with the same `webhook-id`, backing off to every 10 minutes, for up to 7 "
            "days; so are a redirect (never followed) and no answer within the timeout."
        )
    },
}

WebhookId = Annotated[
    str,
    Header(
        alias="webhook-id",
        description="The notification's key: the same on every retry, so dedupe on it.",
    ),
]
WebhookTimestamp = Annotated[
    str,
    Header(
        alias="webhook-timestamp",
        description="Unix seconds of this attempt (a retry carries its own time).",
    ),
]
WebhookSignature = Annotated[
    str,
    Header(
        alias="webhook-signature",
        description=(
            "Space-separated `v1,<base64 HMAC-SHA256>` signatures, one per secret configured "
            "(more than one while secrets rotate)."
        ),
    ),
]


def describe_webhooks(app: FastAPI) -> None:
    """One entry in the document's `webhooks` per event type, named by the type."""
    for envelope in ENVELOPES.values():
        _describe(app, envelope)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _add_examples(build())
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def _add_examples(document: dict[str, Any]) -> None:
    """Each event's example as sent, nulls kept (FastAPI's document drops None values, and the
    schemas require those fields); FastAPI's default 200 answer gives way to ANSWERS."""
    for event_type, envelope in ENVELOPES.items():
        post = document["webhooks"][event_type]["post"]
        sample = example(envelope).model_dump(mode="json")
        content = post["requestBody"]["content"]["application/json"]
        content["examples"] = {event_type: {"summary": event_type, "value": sample}}
        post["responses"].pop("200", None)


def _describe(app: FastAPI, envelope: type[Envelope]) -> None:
    event_type = envelope.event_type()
    summary, _, details = inspect.cleandoc(envelope.__doc__ or event_type).partition("\n\n")
    receivers = "; ".join(RECEIVERS[audience] for audience in envelope.audiences)
    tags: list[str | Enum] = [TAG_OF[audience] for audience in envelope.audiences]

    async def receive(
        event: Annotated[envelope, Body()],  # type: ignore[valid-type]
        webhook_id: WebhookId,
        webhook_timestamp: WebhookTimestamp,
        webhook_signature: WebhookSignature,
    ) -> None:
        """Documentation only: the service sends this event, it never receives it."""

    app.webhooks.post(
        event_type,
        summary=summary,
        description=f"{details}\n\nSent to {receivers}. {DELIVERY}".strip(),
        operation_id=event_type,
        tags=tags,
        responses=ANSWERS,
    )(receive)
