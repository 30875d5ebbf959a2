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
from starlette.routing import compile_path

from api.problem_types import PROBLEM_TYPES, URN_PREFIX, ProblemType, kinds_of

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
        self.type = ProblemType(status, kind, "").uri
        self.title = ProblemType(status, kind, "", title).answered_title
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


# The answer's shape in the OpenAPI document, one component that every error response
# references: generated clients get one Problem model instead of a copy per operation.
PROBLEM_SCHEMA_NAME = "Problem"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": PROBLEM_SCHEMA_NAME,
    "description": "RFC 9457 problem details; `errors` lists the fields a 422 refuses.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "a urn:econsult:problem:* URI or about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ProblemError"},
        },
    },
}
PROBLEM_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ProblemError",
    "type": "object",
    "required": ["loc", "msg"],
    "properties": {
        "loc": {"type": "array", "items": {"type": "string"}},
        "msg": {"type": "string"},
    },
}
PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA_NAME}"}


def problem_types() -> list[ProblemType]:
    """Every problem this API answers, by status: docs/problem-types.md is generated from it."""
    return sorted(PROBLEM_TYPES, key=lambda p: p.status)


# Listed on an operation's 422 only where it can answer them (`refusal_responses`): the
# rules it refuses by, a key's reuse where it takes an Idempotency-Key, an upload's budget.
_PER_OPERATION = {"refused", "idempotency-key-reused", "upload-over-budget"}


def _problem_description(status: int, *more: str) -> str:
    uris = [u for u in kinds_of(status) if u.removeprefix(URN_PREFIX) not in _PER_OPERATION]
    uris += [f"{URN_PREFIX}{kind}" for kind in more]
    return f"{HTTPStatus(status).phrase} (problem type: {', '.join(uris)})"


_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "the Bearer challenge, or the DPoP one (RFC 9449) for DPoP",
            "schema": {"type": "string"},
        }
    },
    **{
        status: {
            "Retry-After": {
                "description": "seconds to wait before retrying",
                "schema": {"type": "string"},
            }
        }
        for status in (429, 503)
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries declaring problem+json answers for `statuses`."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": _problem_description(status),
            "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
        }
        if status in _HEADERS:
            response["headers"] = _HEADERS[status]
        responses[status] = response
    return responses


# Where an operation lists the rules a well-formed request may be refused by (a 422 `refused`):
# the fuzzer takes such a refusal of a request it made valid as right only when listed so.
REFUSALS = "x-refusals"
# Rules more than one operation refuses by.
PERIOD_REVERSED = "valid_to is before valid_from"
NOT_IN_DIRECTORY = "{who} is not in the directory"
FRIKORT_ACROSS_YEARS = "a frikort period runs into another calendar year"


def refusal_responses(*rules: str, also: tuple[str, ...] = ()) -> dict[int | str, dict[str, Any]]:
    """The 422 response of an operation that refuses well-formed requests by `rules`, and
    may also answer the 422 types `also` names."""
    response = problem_responses(422)[422]
    if not rules:
        return {422: {**response, "description": _problem_description(422, *also)}}
    listed = "; ".join(rules)
    described = _problem_description(422, *also, "refused")
    return {
        422: {
            **response,
            "description": f"{described}. Refused when {listed}",
            REFUSALS: list(rules),
        }
    }


def document_problems(app: FastAPI) -> None:
    """Adds the shared Problem component to the app's OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas[PROBLEM_SCHEMA_NAME] = PROBLEM_SCHEMA
            schemas["ProblemError"] = PROBLEM_ERROR_SCHEMA
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


# What any authenticated call may answer besides its own success and refusals.
AUTHENTICATED = (401, 403, 413, 422, 429, 500, 503)


def not_found(what: str) -> Problem:
    return Problem(404, f"{what} not found")


def invalid(detail: str) -> Problem:
    """A request that does not match the document (a body that cannot be read, say)."""
    return Problem(422, detail, kind="validation", title="Invalid request")


def over_budget(detail: str) -> Problem:
    return Problem(422, detail, kind="upload-over-budget", title="Upload over budget")


def refused(detail: str) -> Problem:
    """A well-formed request a rule refuses; the operation lists it (`refusal_responses`)."""
    return Problem(422, detail, kind="refused", title="Request refused")


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


# Pydantic's error for a key the model does not have: the key's name is the caller's input.
UNKNOWN_FIELD = "extra_forbidden"


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Where each error is and what it says, never the input: it may be health content. An
    unknown key's name is input too, so its error is located at the object holding it."""
    answered: list[dict[str, Any]] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        msg = error.get("msg", "")
        if error.get("type") == UNKNOWN_FIELD:
            loc, msg = loc[:-1], "unknown fields are not permitted here"
        entry = {"loc": loc, "msg": msg}
        if entry not in answered:
            answered.append(entry)
    return answered


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode (not UTF-8, say); this API never says
        # 400 itself, and docs/http-api.md makes every malformed request a 422.
        return problem_response(invalid("the body is not valid JSON"))
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
    return problem_response(Problem(exc.status_code, detail, headers=headers))


def _allowed_methods(request: Request, starlette_says: str) -> str:
    """The methods the document lists for the path. Starlette names only the first route that
    matches, and FastAPI makes one route per method (GET and PUT /v1/clinicians/{id} are two)."""
    path = request.scope["path"]
    for template, item in request.app.openapi()["paths"].items():
        if compile_path(template)[0].match(path):
            return ", ".join(sorted(method.upper() for method in item))
    # Not in the document (/metrics, the docs pages): each is a single route.
    return starlette_says


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


def answer_unexpected(request: Request, exc: BaseException) -> JSONResponse:
    """Log an unexpected error with its route; answer 500 without its text."""
    log.error(
        "unexpected error",
        exc_info=exc,
        # The route template, never the path: a path may carry a patient id.
        extra={"route": route_template(request), "method": request.method},
    )
    # Never the exception's text or traceback: either can quote a payload.
    return problem_response(Problem(500, "an unexpected error occurred; it has been logged"))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    return answer_unexpected(request, exc)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
