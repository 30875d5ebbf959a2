"""Codec endpoint for the Temporal UI: operators with an admin token see decrypted payloads.

The protocol is Temporal's remote codec: POST a JSON `Payloads` message, get one back.

On `make run` (DEV_CODEC_TRUSTS_LOCAL_UI) the Temporal UI on this machine decodes without a
token: the development UI has no sign-in, so it has no token to pass, and it would not pass one
to an http endpoint anyway. Only a request without a token, from the UI's origin, from a
loopback address, to an API that listens on loopback only, is trusted so; it is audited all
the same.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from prometheus_client import Counter
from temporalio.api.common.v1 import Payload, Payloads

from api.auth import Scope, _bearer, require
from api.codec_audit import audit_decode
from api.openapi import OPERATIONS
from api.problems import AUTHENTICATED, Problem, invalid, problem_responses
from api.services import Deps
from infra.codec import EncryptionCodec, KeyConfigError, PayloadDecryptionError
from infra.settings import Settings

router = APIRouter(prefix="/codec", responses=problem_responses(*AUTHENTICATED))

# Temporal's remote codec protocol: a protobuf JSON `Payloads` message, described as the parser
# reads it. It refuses fields it does not know, and the document says so rather than the API
# dropping them: a payload transcoded without a field it came with is not the one the UI sent.
# null is protobuf's "not set", taken where the parser takes it.
_BASE64 = {"type": "string", "format": "byte"}
_PAYLOAD = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "metadata": {"type": ["object", "null"], "additionalProperties": _BASE64},
        "data": {**_BASE64, "type": ["string", "null"]},
    },
}
_PAYLOADS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "title": "Payloads",
                    "additionalProperties": False,
                    "properties": {"payloads": {"type": ["array", "null"], "items": _PAYLOAD}},
                }
            }
        },
    }
}


LOCAL_UI = "local UI"

# Why a codec request failed, never what it carried. `undecryptable` (a tampered payload or a
# key id no longer configured) and `keys_not_configured` are incidents; `malformed` is a
# caller's mistake, counted to tell the two apart.
CODEC_FAILURES = Counter(
    "econsult_codec_failures_total",
    "Codec endpoint requests that could not be transcoded, by operation and reason",
    ["operation", "reason"],
)
UNDECRYPTABLE = "undecryptable"
KEYS_NOT_CONFIGURED = "keys_not_configured"
MALFORMED = "malformed"
# Every series from the start, so a first failure is an increase Prometheus sees.
for _operation in ("decode", "encode"):
    for _reason in (UNDECRYPTABLE, KEYS_NOT_CONFIGURED, MALFORMED):
        CODEC_FAILURES.labels(_operation, _reason)


class LocalUiTrustRefused(ValueError):
    """DEV_CODEC_TRUSTS_LOCAL_UI is set where it would trust more than this machine."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ui_origins(settings: Settings) -> list[str]:
    """The origins the UI's browser calls come from: a UI on loopback is reached by either name."""
    origin = urlsplit(settings.temporal_ui_origin)
    if origin.hostname is None or origin.port is None or not is_loopback(origin.hostname):
        return [settings.temporal_ui_origin]
    aliases = [f"{origin.scheme}://{host}:{origin.port}" for host in ("localhost", "127.0.0.1")]
    return list(dict.fromkeys([settings.temporal_ui_origin, *aliases]))


def trusted_local_ui_origins(settings: Settings) -> frozenset[str]:
    """Origins whose token-less codec calls are trusted; the API refuses to start otherwise."""
    if not settings.dev_codec_trusts_local_ui:
        return frozenset()
    if not is_loopback(settings.api_host):
        raise LocalUiTrustRefused(
            f"DEV_CODEC_TRUSTS_LOCAL_UI is for `make run` only: the API would listen on "
            f"{settings.api_host}, not on loopback. Unset it, or set API_HOST=127.0.0.1."
        )
    if not is_loopback(urlsplit(settings.temporal_ui_origin).hostname or ""):
        raise LocalUiTrustRefused(
            f"DEV_CODEC_TRUSTS_LOCAL_UI trusts a UI on this machine only, not "
            f"TEMPORAL_UI_ORIGIN={settings.temporal_ui_origin}."
        )
    return frozenset(ui_origins(settings))


@dataclass(frozen=True)
class CodecReader:
    """Who asked for a decode, for the audit line: an admin by token, or the local UI."""

    actor_id: str
    role: str


_admin = require(Scope.ADMIN)


def _from_trusted_local_ui(request: Request) -> bool:
    trusted: frozenset[str] = getattr(request.app.state, "local_ui_origins", frozenset())
    client = request.client
    return (
        request.headers.get("origin") in trusted and client is not None and is_loopback(client.host)
    )


async def codec_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> CodecReader:
    # A token, when there is one, is always checked: a bad token is refused even from the UI.
    if credentials is None and _from_trusted_local_ui(request):
        return CodecReader(actor_id=LOCAL_UI, role="local_ui")
    caller = await _admin(request, credentials)
    return CodecReader(actor_id=caller.actor_id, role=caller.role)


CodecCaller = Annotated[CodecReader, Depends(codec_reader)]


def _codec(request: Request, operation: str) -> EncryptionCodec:
    # Built on first use: the API itself starts (and serves health) without keys.
    codec: EncryptionCodec | None = getattr(request.app.state, "codec", None)
    if codec is None:
        try:
            codec = EncryptionCodec.from_setting(
                request.app.state.settings.econsult_encryption_keys
            )
        except KeyConfigError as error:
            CODEC_FAILURES.labels(operation, KEYS_NOT_CONFIGURED).inc()
            raise Problem(503, f"payload keys are not configured: {error}") from error
        request.app.state.codec = codec
    return codec


async def _transcode(
    request: Request,
    operation: str,
    convert: Callable[[Sequence[Payload]], Awaitable[list[Payload]]],
) -> Response:
    try:
        message = json.loads(await request.body())
        if not isinstance(message, dict):
            # json_format.Parse takes `[]` as an empty message; the document says an object.
            raise ValueError("not a JSON object")
        payloads = json_format.ParseDict(message, Payloads())
        converted = Payloads(payloads=await convert(payloads.payloads))
    except PayloadDecryptionError as error:
        CODEC_FAILURES.labels(operation, UNDECRYPTABLE).inc()
        raise invalid(str(error)) from error
    # After it: a decryption error is a ValueError too, and says more.
    except (json_format.ParseError, DecodeError, ValueError) as error:
        CODEC_FAILURES.labels(operation, MALFORMED).inc()
        raise invalid("the body is not a JSON Payloads message") from error
    # Decrypted payloads are health content: never kept by a cache or the browser.
    return Response(
        json_format.MessageToJson(converted),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/decode", operation_id="decodePayloads", tags=[OPERATIONS], openapi_extra=_PAYLOADS_BODY
)
async def decode(request: Request, caller: CodecCaller, services: Deps) -> Response:
    """Decrypt payloads for display in the Temporal UI (admin token required).

    On `make run` the Temporal UI on this machine needs no token (DEV_CODEC_TRUSTS_LOCAL_UI).
    Every decode is audited: who decoded which workflow's payloads, in each consultation's
    access log.
    """
    codec = _codec(request, "decode")

    async def audited(payloads: Sequence[Payload]) -> list[Payload]:
        await audit_decode(services, caller.actor_id, caller.role, payloads)
        return await codec.decode(payloads)

    return await _transcode(request, "decode", audited)


@router.post(
    "/encode", operation_id="encodePayloads", tags=[OPERATIONS], openapi_extra=_PAYLOADS_BODY
)
async def encode(request: Request, _caller: CodecCaller) -> Response:
    """Encrypt payloads the UI sends (signals, queries started from the UI)."""
    return await _transcode(request, "encode", _codec(request, "encode").encode)
