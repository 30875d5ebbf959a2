"""RFC 9457 problem details: the one shape of every error this API answers."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("econsult.api")

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error answer: raise it anywhere in a request, the handler renders it."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        # A named kind gets its own type URI; otherwise the status says it all (about:blank).
        self.type = f"urn:econsult:problem:{kind}" if kind else "about:blank"
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def not_found(what: str) -> Problem:
    return Problem(404, f"{what} not found")


def invalid(detail: str) -> Problem:
    return Problem(422, detail, kind="validation", title="Invalid request")


def problem_response(problem: Problem) -> JSONResponse:
    body = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        **problem.extra,
    }
    return JSONResponse(body, problem.status, headers=problem.headers, media_type=PROBLEM_JSON)


def route_template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # Never echo the input back: it may be health content.
    return [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": error.get("msg", "")}
        for error in errors
    ]


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(Problem(exc.status_code, detail, headers=exc.headers))


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc.errors())
    fields = ", ".join(".".join(e["loc"]) for e in errors) or "request"
    return problem_response(
        Problem(
            422,
            f"invalid {fields}",
            kind="validation",
            title="Invalid request",
            extra={"errors": errors},
        )
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unexpected error",
        exc_info=exc,
        # The route template, never the path: a path may carry a patient id.
        extra={"route": route_template(request), "method": request.method},
    )
    return problem_response(Problem(500, "an unexpected error occurred; it has been logged"))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
