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

# The problem types each status may carry, so a client can tell refusals apart.
_PROBLEM_TYPES: dict[int, tuple[str, ...]] = {
    401: ("about:blank",),
    403: ("about:blank",),
    404: ("about:blank",),
    409: ("invalid-transition", "closed"),
    413: ("too-large",),
    422: ("validation", "refused", "idempotency-key-reused", "upload-over-budget"),
    429: ("rate-limited",),
    500: ("about:blank",),
    502: ("webhook-failed",),
    503: ("unavailable", "command-not-taken", "about:blank"),
}

# What each type means to a client; docs/problem-types.md is generated from these maps.
PROBLEM_TYPE_MEANINGS: dict[str, str] = {
    "invalid-transition": "the consultation's status does not allow this command; nothing changed",
    "closed": "the consultation has finished: it takes no more messages or commands",
    "too-large": "the request body is over its route's limit (64 KiB of JSON; 4 MiB to the codec)",
    "validation": "the request does not match the document; `errors` names the fields (none "
    "when the body cannot be read at all)",
    "refused": "a well-formed request that a rule of the service refuses, `detail` saying "
    "which; each operation's 422 response lists its rules; nothing was written",
    "idempotency-key-reused": "this Idempotency-Key was used for a different request",
    "upload-over-budget": "checking the uploaded file needed more CPU time, memory, pixels or "
    "inflated bytes than one upload may; nothing was stored",
    "rate-limited": "too many writes from this caller; retry after Retry-After seconds",
    "webhook-failed": "sandbox test events: the webhook receiver did not answer 2xx, or could "
    "not be reached; `detail` says which",
    "unavailable": "the case store or Temporal is unreachable; retry after Retry-After seconds",
    "command-not-taken": "the workflow did not take the command within 10 s; retry with the "
    "same Idempotency-Key after Retry-After seconds",
}
_ABOUT_BLANK_MEANINGS: dict[int, str] = {
    401: "no token, or a token (or DPoP proof) that does not verify",
    403: "the token lacks the scope this call needs",
    404: "unknown, or not the caller's to see",
    500: "an unexpected error; logged, its text never answered",
    503: "the codec endpoint has no payload keys configured",
}


def problem_types() -> list[tuple[int, str, str]]:
    """(status, type URI, meaning) of every problem type this API answers."""
    return [
        (status, "about:blank", _ABOUT_BLANK_MEANINGS[status])
        if kind == "about:blank"
        else (status, f"urn:econsult:problem:{kind}", PROBLEM_TYPE_MEANINGS[kind])
        for status, kinds in sorted(_PROBLEM_TYPES.items())
        for kind in kinds
    ]


# Listed on an operation's 422 only with the rules it refuses by (`refusal_responses`).
_PER_OPERATION = {"refused"}


def _problem_description(status: int, *more: str) -> str:
    kinds = [k for k in _PROBLEM_TYPES.get(status, ("about:blank",)) if k not in _PER_OPERATION]
    kinds += more
    uris = ", ".join(k if k == "about:blank" else f"urn:econsult:problem:{k}" for k in kinds)
    return f"{HTTPStatus(status).phrase} (problem type: {uris})"


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


def refusal_responses(*rules: str) -> dict[int | str, dict[str, Any]]:
    """The 422 response of an operation that refuses well-formed requests by `rules`."""
    response = problem_responses(422)[422]
    listed = "; ".join(rules)
    return {
        422: {
            **response,
            "description": f"{_problem_description(422, 'refused')}. Refused when {listed}",
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
