"""Codec endpoint for the Temporal UI: operators with an admin token see decrypted payloads.

The protocol is Temporal's remote codec: POST a JSON `Payloads` message, get one back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, Request, Response
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from api.auth import AdminCaller
from api.problems import AUTHENTICATED, Problem, invalid, problem_responses
from infra.codec import EncryptionCodec, KeyConfigError, PayloadDecryptionError

log = logging.getLogger("econsult.codec")

router = APIRouter(
    prefix="/codec", tags=["operations"], responses=problem_responses(*AUTHENTICATED)
)

_PAYLOADS_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "title": "Payloads"}}},
    }
}


def _codec(request: Request) -> EncryptionCodec:
    # Built on first use: the API itself starts (and serves health) without keys.
    codec: EncryptionCodec | None = getattr(request.app.state, "codec", None)
    if codec is None:
        try:
            codec = EncryptionCodec.from_setting(
                request.app.state.settings.econsult_encryption_keys
            )
        except KeyConfigError as error:
            raise Problem(503, f"payload keys are not configured: {error}") from error
        request.app.state.codec = codec
    return codec


async def _transcode(
    request: Request, convert: Callable[[Sequence[Payload]], Awaitable[list[Payload]]]
) -> Response:
    try:
        payloads = json_format.Parse(await request.body(), Payloads())
        converted = Payloads(payloads=await convert(payloads.payloads))
    except (json_format.ParseError, DecodeError, UnicodeDecodeError) as error:
        raise invalid("the body is not a JSON Payloads message") from error
    except PayloadDecryptionError as error:
        raise invalid(str(error)) from error
    # Decrypted payloads are health content: never kept by a cache or the browser.
    return Response(
        json_format.MessageToJson(converted),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.post("/decode", openapi_extra=_PAYLOADS_BODY)
async def decode(request: Request, caller: AdminCaller) -> Response:
    """Decrypt payloads for display in the Temporal UI (admin token required)."""
    # The /v1 access log cannot name a consultation here (payloads do not say which), so every
    # decode is at least audited by who asked.
    log.info("codec decode", extra={"actor_id": caller.actor_id, "caller_role": "admin"})
    return await _transcode(request, _codec(request).decode)


@router.post("/encode", openapi_extra=_PAYLOADS_BODY)
async def encode(request: Request, _caller: AdminCaller) -> Response:
    """Encrypt payloads the UI sends (signals, queries started from the UI)."""
    return await _transcode(request, _codec(request).encode)
