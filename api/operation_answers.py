"""Each operation in the OpenAPI document declares only the limits it can be refused by.

Routers declare the answers every call may get; 413 and 429 come from middleware that
applies them by method and path, so they are kept where the same rules say they apply: a
read's body is never read (no 413) and reads are not limited (no 429); an upload limits
itself (over 10 MiB is a 422 refusal) and the codec is not rate limited.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.middleware import UNREAD_BODY_METHODS, body_limit_for
from api.rate_limits import is_limited


def can_answer_too_large(method: str, path: str) -> bool:
    return method not in UNREAD_BODY_METHODS and body_limit_for(path) is not None


def declare_limits_per_operation(app: FastAPI) -> None:
    """Drops 413 and 429 from the operations the middleware never answers them to."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            for path, item in document.get("paths", {}).items():
                for method, operation in item.items():
                    responses = operation.get("responses", {})
                    if not can_answer_too_large(method.upper(), path):
                        responses.pop("413", None)
                    if not is_limited(method.upper(), path):
                        responses.pop("429", None)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
