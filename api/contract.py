"""What the API promises beyond each operation's schema: its version, the operations on their
way out, and the fields that tell a caller how many commands it has left.

`API_VERSION` is `info.version` of the OpenAPI document and the version of the changelog's
newest section (checked by tests/api/test_contract.py); docs/http-api.md says what a change of
each of its parts means for callers.

A deprecated operation is declared once, in `DEPRECATED` (or, for a test app, with
`deprecate`): its answers carry `Deprecation` (RFC 9745), `Sunset` (RFC 8594) when a date is set
and a `Link` with `rel="deprecation"` to the notice, and the document marks it
`deprecated: true`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.rate_limits import LIMITED_METHODS, collecting_spent, rate_limit_fields

API_VERSION = "1.1.0"


@dataclass(frozen=True)
class Deprecation:
    """An operation callers should stop using: since when, until when it answers, and where
    the notice (what to use instead) is."""

    since: datetime
    notice: str
    sunset: datetime | None = None

    def fields(self) -> dict[str, str]:
        fields = {
            "Deprecation": f"@{int(self.since.timestamp())}",
            "Link": f'<{self.notice}>; rel="deprecation"; type="text/html"',
        }
        if self.sunset is not None:
            fields["Sunset"] = format_datetime(self.sunset, usegmt=True)
        return fields


# (method, path template) -> its deprecation. None today: the first entry is announced in the
# changelog with the release that adds it, and the operation answers until its sunset.
DEPRECATED: Mapping[tuple[str, str], Deprecation] = {}


def deprecate(app: FastAPI, method: str, path: str, deprecation: Deprecation) -> None:
    """Declare one more operation of `app` deprecated."""
    app.state.deprecated = {**app.state.deprecated, (method.upper(), path): deprecation}


class ContractFieldsMiddleware:
    """Adds the rate-limit fields to answers of limited commands and the deprecation fields to
    answers of deprecated operations."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        with collecting_spent() as spent:

            async def send_with_fields(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = MutableHeaders(scope=message)
                    for name, value in self._fields(scope, spent).items():
                        headers[name] = value
                await send(message)

            await self.app(scope, receive, send_with_fields)

    def _fields(self, scope: Scope, spent: Any) -> dict[str, str]:
        fields = rate_limit_fields(spent)
        template = getattr(scope.get("route"), "path", None)
        deprecation = self.api.state.deprecated.get((scope["method"], template))
        if deprecation is not None:
            fields.update(deprecation.fields())
        return fields


_RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": {
        "description": (
            'The write limits of this command (draft-ietf-httpapi-ratelimit-headers): "caller" '
            'for the caller, and "patient" for the patient where it counts; `q` commands at '
            "once, refilled whole in `w` seconds."
        ),
        "schema": {"type": "string", "examples": ['"caller";q=100;w=5']},
    },
    "RateLimit": {
        "description": (
            "What is left under each policy: `r` commands now, the bucket full again in `t` "
            "seconds. At r=0 the next command is 429 until Retry-After has passed."
        ),
        "schema": {"type": "string", "examples": ['"caller";r=99;t=1']},
    },
}
_DEPRECATION_HEADERS = {
    "Deprecation": {
        "description": "RFC 9745: deprecated since this time (`@` and seconds since 1970)",
        "schema": {"type": "string"},
    },
    "Sunset": {
        "description": "RFC 8594: the HTTP-date after which the operation may stop answering",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'the deprecation notice, `rel="deprecation"`',
        "schema": {"type": "string"},
    },
}


def _with_headers(response: dict[str, Any], headers: dict[str, Any]) -> None:
    response["headers"] = {**response.get("headers", {}), **copy.deepcopy(headers)}


def _document_contract(app: FastAPI, document: dict[str, Any]) -> None:
    document["info"]["version"] = API_VERSION
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            limited = (
                method.upper() in LIMITED_METHODS
                and path.startswith("/v1/")
                and "security" in operation
            )
            if limited:
                for status, response in responses.items():
                    if str(status).startswith("2") or str(status) == "429":
                        _with_headers(response, _RATE_LIMIT_HEADERS)
            if (method.upper(), path) in app.state.deprecated:
                operation["deprecated"] = True
                for response in responses.values():
                    _with_headers(response, _DEPRECATION_HEADERS)


def install_contract(app: FastAPI) -> None:
    """The contract's fields on `app`'s answers and in its document."""
    app.state.deprecated = dict(DEPRECATED)
    app.add_middleware(ContractFieldsMiddleware, api=app)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_contract(app, build())
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
