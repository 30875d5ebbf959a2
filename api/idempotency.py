"""Idempotency-Key on every command: a repeat answers the first answer and takes effect once.

Three layers make a retried command harmless, from the outside in:
- the case store keeps, per caller and key, a digest of the first request and its answer
  (status and body), replayed to every repeat; another request under the key is 422;
- the Temporal update id is derived from the caller and key, so the server hands a repeat
  the outcome of the update already running or done (a repeat while the first is still in
  flight waits for the same outcome; one sent after a 503 finds the command applied later);
- the message id is derived from them too, and the workflow skips a message id it has seen.
Without a key a command gets random ids, and nothing is kept.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import Header
from fastapi.responses import Response
from pydantic import BaseModel

from api.auth import Caller
from api.problems import (
    PROBLEM_JSON,
    Problem,
    problem_response,
    problem_responses,
    refusal_responses,
)
from api.services import Services
from domain.models import ConsultationView
from store.command_keys import KeyedCommand

T = TypeVar("T")

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=255,
        description="Makes a retried command take effect once and answer as the first time",
    ),
]
REPLAYED_HEADER = "Idempotent-Replayed"
# How a command's answer declares it in the OpenAPI document.
REPLAYED_HEADER_DOC: dict[str, dict[str, object]] = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the kept answer of an earlier request with the "
        "same Idempotency-Key (the command took effect once); absent on a first answer",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


# The refusals kept for a key (the workflow's: 404 no party, 409, 422 a rule), so replayed.
REPLAYED_REFUSALS = (404, 409, 422)


def idempotent_command_responses(*rules: str) -> dict[int | str, dict[str, Any]]:
    """The refusals of a command that takes an Idempotency-Key: its rules (422), the key's
    reuse, and `Idempotent-Replayed` on each refusal a repeat may be answered again."""
    responses = {
        **problem_responses(404, 409),
        **refusal_responses(*rules, also=("idempotency-key-reused",)),
    }
    for status in REPLAYED_REFUSALS:
        responses[status]["headers"] = {
            **responses[status].get("headers", {}),
            **REPLAYED_HEADER_DOC,
        }
    return responses


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _digest(action: str, consultation_id: str | None, request: BaseModel | None) -> str:
    """What a key stands for: the request (a create's body; else command, case and body)."""
    body = request.model_dump(mode="json") if request is not None else None
    fingerprint = (
        body
        if consultation_id is None
        else {"command": action, "consultation_id": consultation_id, "body": body}
    )
    return hashlib.sha256(_canonical(fingerprint)).hexdigest()


def json_answer(model: BaseModel, status_code: int = 200) -> Response:
    """The model as a JSON answer, serialized by pydantic in one step."""
    return Response(model.model_dump_json(), status_code, media_type="application/json")


class CommandOnce:
    """One command request under its caller's Idempotency-Key, if it has one: the ids the key
    fixes, its claim on the key, and the answer kept for it. Without a key: random ids and
    nothing kept.

    The key is claimed first, so a repeat answers its first answer before anything is checked
    again; an answer given before the command is sent (a check refused it) releases the key,
    so a corrected retry may use it.
    """

    def __init__(
        self,
        services: Services,
        caller: Caller,
        key: str | None,
        *,
        action: str,
        consultation_id: str | None,
        request: BaseModel | None,
        success_status: int = 200,
    ) -> None:
        self._services = services
        self._caller = caller
        self._key = key
        self._action = action
        self._success_status = success_status
        # A create has no case yet: its id is made now, or taken from the key's first use.
        self.consultation_id = consultation_id or uuid.uuid4().hex
        self._digest = _digest(action, consultation_id, request) if key else ""
        self._token = hashlib.sha256(_canonical([caller.subject, key])).hexdigest() if key else None
        self._claim: KeyedCommand | None = None

    @property
    def message_id(self) -> str:
        """The id of the message this command stores: the same on every repeat of the key."""
        return self._token[:32] if self._token else uuid.uuid4().hex

    @property
    def update_id(self) -> str | None:
        """The Temporal update id: the same on every repeat of the key (None: a random one)."""
        return f"{self._action}-{self._token}" if self._token else None

    async def claim(self) -> Response | None:
        """Claim the key: its first answer again if it has one (422 if it meant another
        request); else None, and the command goes on (on the case the key's first use chose)."""
        if self._key is None:
            return None
        claimed = await self._services.command_keys.claim(
            self._caller.subject, self._key, self._digest, self.consultation_id
        )
        self._check_same_request(claimed)
        self.consultation_id = claimed.consultation_id
        if claimed.answered:
            return await self._replayed(claimed)
        # Only a claim this request made is released; an earlier one may have been sent.
        self._claim = claimed if claimed.new else None
        return None

    async def checked(self, checks: Awaitable[T]) -> T:
        """What the checks before sending give; a refusal there is not kept for the key."""
        try:
            return await checks
        except Exception:
            if self._key is not None and self._claim is not None:
                await self._services.command_keys.release(
                    self._caller.subject, self._key, self._claim
                )
            raise

    async def sent(self, sending: Awaitable[ConsultationView]) -> ConsultationView:
        """The workflow's answer to the command; its refusal (4xx) is kept for the key, a 503
        is not, so a retry sends again."""
        try:
            return await sending
        except Problem as refusal:
            if self._key is not None and 400 <= refusal.status < 500:
                await self._kept(problem_response(refusal))
            raise

    async def answered(self, answer: BaseModel) -> Response:
        """The command's answer, kept for the key; the one kept first if a concurrent request
        under the key answered before this one."""
        response = json_answer(answer, self._success_status)
        if self._key is None:
            return response
        kept = await self._kept(response)
        if kept is not None and kept.answer != bytes(response.body).decode():
            return await self._replayed(kept)
        return response

    def _check_same_request(self, earlier: KeyedCommand) -> None:
        if earlier.request_sha256 != self._digest:
            raise Problem(
                422,
                "this Idempotency-Key was used for a different request",
                kind="idempotency-key-reused",
                title="Invalid request",
            )

    async def _kept(self, answer: Response) -> KeyedCommand | None:
        assert self._key is not None
        return await self._services.command_keys.answer(
            self._caller.subject, self._key, answer.status_code, bytes(answer.body).decode()
        )

    async def _replayed(self, earlier: KeyedCommand) -> Response:
        assert earlier.status_code is not None and earlier.answer is not None
        if earlier.status_code < 300:
            # The answer shows the consultation's content: a replay is a read, and logged.
            await self._services.access_log.record(
                earlier.consultation_id, self._caller.actor_id, self._caller.role, self._action
            )
        return Response(
            earlier.answer,
            earlier.status_code,
            headers={REPLAYED_HEADER: "true"},
            media_type="application/json" if earlier.status_code < 300 else PROBLEM_JSON,
        )
