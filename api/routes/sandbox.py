"""The sandbox for integrators (ECONSULT_SANDBOX): a test clock, and test events to the webhooks.

Both operations are in the one OpenAPI document every deployment serves, marked "sandbox
only", so a client generated from it can drive the sandbox; outside the sandbox their paths
match no route, so every method on them answers 404, as for a path that does not exist.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from starlette.routing import Match
from starlette.types import Scope
from temporalio.service import RPCError

from activities.adapters import DeliveryRefusedError
from activities.endpoints import PracticeEndpoints
from activities.webhooks import (
    ReceiverUnavailableError,
    WebhookSender,
    sandbox_event_body,
    service_endpoints,
)
from api.auth import AdminCaller
from api.openapi import SANDBOX
from api.outages import TEMPORAL, DependencyUnavailableError
from api.problems import AUTHENTICATED, Problem, problem_responses, refusal_responses, refused
from api.services import Deps
from domain.base import PracticeId
from domain.effects import Audience
from infra.outbound import OutboundPolicy
from infra.sandbox import LONGEST_ADVANCE, advance
from infra.secrets import secrets_directory
from store.practices import Practices


class SandboxRoute(APIRoute):
    """A route that exists only in the sandbox: elsewhere it matches nothing (404, never 405)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and not scope["app"].state.settings.econsult_sandbox:
            return Match.NONE, {}
        return super().matches(scope)


router = APIRouter(
    prefix="/v1/sandbox",
    tags=[SANDBOX],
    route_class=SandboxRoute,
    responses=problem_responses(*AUTHENTICATED, 404),
)

# One advance at a time: each unlocks the server's time skipping and locks it again.
_clock_turn = asyncio.Lock()


def _iso_duration_only(value: object) -> object:
    """A string, parsed as an ISO 8601 duration; not a number of seconds."""
    if not isinstance(value, str):
        raise ValueError("an ISO 8601 duration such as P6D or PT12H")
    return value


def _forward_and_bounded(value: timedelta) -> timedelta:
    # Checked here rather than with gt/le, which would put keywords that are not JSON
    # Schema's into the document.
    if not timedelta(0) < value <= LONGEST_ADVANCE:
        raise ValueError("more than zero and at most P60D")
    return value


class ClockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advance: Annotated[
        timedelta,
        BeforeValidator(_iso_duration_only),
        AfterValidator(_forward_and_bounded),
        Field(
            description="How far to move the clock: an ISO 8601 duration (P6D, PT12H, P1DT6H; "
            "a month counts 30 days), more than zero and at most P60D.",
            examples=["P6D"],
        ),
    ]


class ClockOut(BaseModel):
    now: datetime = Field(description="The sandbox's time after the advance.")
    advanced: timedelta = Field(description="The advance, as asked.")


class TestEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audience: Audience = Field(description="Whose webhook gets the event.")
    practice_id: PracticeId | None = Field(
        default=None,
        description="Clinician and practice audiences: the practice whose own webhook gets "
        "it (else the service-wide one).",
    )


class TestEventOut(BaseModel):
    type: Literal["econsult.test"] = "econsult.test"
    webhook_id: str = Field(description="The `webhook-id` header sent.")
    audience: Audience
    practice_id: str | None
    endpoint: Literal["practice", "service"] = Field(
        description="Whose endpoint received it: the practice's own or the service-wide one."
    )
    url: str = Field(description="Where it was sent, without query or credentials.")
    status: int = Field(description="The receiver's HTTP status (2xx).")


@router.post(
    "/clock",
    operation_id="advanceSandboxClock",
    response_model=ClockOut,
    responses=problem_responses(503),
)
async def advance_clock(body: ClockIn, _caller: AdminCaller, services: Deps) -> ClockOut:
    """Sandbox only (404 elsewhere). Move Temporal's clock forward: every timer due on the way
    fires in order (draft expiry, reminder, overdue, late notice, automatic close) and its
    journal entries and webhooks are written and sent before the answer."""
    client = await services.temporal.client()
    async with _clock_turn:
        try:
            now = await advance(client, body.advance)
        except RPCError as error:
            # The test server went away, or gave up waiting for work that never finished.
            raise DependencyUnavailableError(TEMPORAL) from error
    return ClockOut(now=now, advanced=body.advance)


_NO_ENDPOINT = "the audience has no webhook: neither the practice's own nor a service-wide one"


@router.post(
    "/test-events",
    operation_id="sendSandboxTestEvent",
    response_model=TestEventOut,
    responses={**refusal_responses(_NO_ENDPOINT), **problem_responses(502)},
)
async def send_test_event(body: TestEventIn, _caller: AdminCaller, services: Deps) -> TestEventOut:
    """Sandbox only (404 elsewhere). Send a signed `econsult.test` event to the audience's
    webhook, as notifications are sent (same signing, same endpoint choice), once, without
    retries; 502 when the receiver does not answer 2xx."""
    settings = services.settings
    sender = WebhookSender(
        service_endpoints(settings),
        practices=PracticeEndpoints(
            Practices(services.sessions),
            secrets_directory(settings.econsult_secrets_dir),
            OutboundPolicy.from_setting(settings.outbound_allowed_networks),
        ),
    )
    webhook_id = f"test-{uuid.uuid4()}"
    event = sandbox_event_body(body.audience, body.practice_id, datetime.now(UTC))
    try:
        sent = await sender.post(body.audience, body.practice_id, webhook_id, event)
    except (DeliveryRefusedError, ReceiverUnavailableError) as error:
        raise _receiver_failed(str(error)) from None
    except httpx.HTTPError as error:
        raise _receiver_failed(f"could not be reached ({type(error).__name__})") from None
    finally:
        await sender.close()
    if sent is None:
        raise refused(_NO_ENDPOINT)
    return TestEventOut(
        webhook_id=webhook_id,
        audience=body.audience,
        practice_id=body.practice_id,
        endpoint=sent.endpoint,
        url=_shown(sent.url),
        status=sent.status,
    )


def _receiver_failed(why: str) -> Problem:
    return Problem(502, f"the webhook receiver failed: {why}", kind="webhook-failed")


def _shown(url: str) -> str:
    """The URL without what may carry a credential (user info, query, fragment)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc, query="", fragment="").geturl()
