"""The ASGI middlewares every HTTP request passes through, outermost first.

- CodecOnlyCORS: cross-origin requests (the Temporal UI's) answered on /codec/ only.
- SecurityHeadersMiddleware: security headers and a Content-Security-Policy on every answer.
- ResponseMiddleware: a trace span, Prometheus metrics, and no-store on the content API.
- BodyLimitMiddleware: bodies over their route's limit refused (413) before parsing.
- UnexpectedErrorMiddleware: an unexpected exception answered as a 500 problem, inside the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.docs import DOCS_PAGES
from api.problems import Problem, answer_unexpected, problem_response, route_template


class HttpMiddleware:
    """An ASGI middleware for HTTP requests; lifespan and websocket events pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass one HTTP request on to the app, doing this middleware's part."""
        raise NotImplementedError


# --- cross-origin requests ---------------------------------------------------------------

CORS_PREFIX = "/codec/"


class CodecOnlyCORS(HttpMiddleware):
    """CORS for the codec endpoint alone: the Temporal UI calls it from the operator's browser.
    /v1 is called by servers, never a browser, so it sends no CORS headers at all: a page of
    the UI's origin (or one that took it over) cannot call /v1 with the operator's token."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        super().__init__(app)
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        )

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith(CORS_PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


# --- security headers --------------------------------------------------------------------

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# A JSON API has nothing to render: no scripts, no frames.
CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
# The interactive docs run scripts and styles served by this API (api/docs.py), and their own
# inline start-up script and styles; nothing from another origin. ReDoc runs its search in a
# worker made from a blob.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware(HttpMiddleware):
    """Adds the security headers to every HTTP answer, errors included."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        policy = (
            DOCS_CONTENT_SECURITY_POLICY if scope["path"] in DOCS_PAGES else CONTENT_SECURITY_POLICY
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- spans and metrics -------------------------------------------------------------------

REQUESTS = Counter(
    "econsult_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "econsult_http_request_seconds", "HTTP request latency", ["method", "route", "status"]
)
tracer = trace.get_tracer("econsult.api")

# For FastAPI(telemetry=...): no native spans, metrics or logs (see ResponseMiddleware below).
NATIVE_TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class ResponseMiddleware(HttpMiddleware):
    """A trace span and Prometheus metrics per request, named by route template; no-store.

    Spans and metrics name the route template, never the path: some paths carry a patient id.
    The span is current while the request runs, so the Temporal client's tracing interceptor
    continues the trace into the workflow and its activities.

    This is the API's HTTP instrumentation, in place of FastAPI's native OpenTelemetry support
    (switched off in create_app with NATIVE_TELEMETRY_OFF) and of opentelemetry-instrumentation-
    fastapi: both put the raw path (`url.path`, `http.target`) and the query on every server span
    as it starts, before routing has found the template, and no hook can take an attribute back.
    FastAPI's logs would also carry exception messages. The span here has what theirs would have
    otherwise: the caller's W3C trace context, kind SERVER, the name `METHOD /route/{template}`,
    the semantic-convention method, route and status attributes, and an error status on 5xx.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500
        content_api = scope["path"].startswith("/v1/")

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if content_api:
                    # Health content must not linger in shared caches or browser history.
                    MutableHeaders(scope=message).setdefault("Cache-Control", "no-store")
            await send(message)

        method = scope["method"]
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with tracer.start_as_current_span(
            f"HTTP {method}", context=propagate.extract(carrier), kind=SpanKind.SERVER
        ) as span:
            try:
                await self.app(scope, receive, send_observed)
            finally:
                route = route_template(Request(scope))
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                LATENCY.labels(method, route, str(status)).observe(time.perf_counter() - started)
                REQUESTS.labels(method, route, str(status)).inc()


# --- request size ------------------------------------------------------------------------

# A message body is at most 5,000 characters: even escaped as \uXXXX it fits many times over.
JSON_BODY_LIMIT = 64 * 1024
# The Temporal UI sends whole payloads to the codec (the server's own limit is 2 MB each).
CODEC_BODY_LIMIT = 4 * 1024 * 1024
# Uploads stream through their own limit (10 MiB, checked while parsing; over it is a 422
# refusal): not buffered here.
STREAMED_PATHS = frozenset({"/v1/attachments"})


# Their bodies are never read, so never refused for size.
UNREAD_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def body_limit_for(path: str) -> int | None:
    """The most bytes a request body to `path` may have; None when the route limits itself."""
    if path in STREAMED_PATHS:
        return None
    if path.startswith("/codec/"):
        return CODEC_BODY_LIMIT
    return JSON_BODY_LIMIT


def too_large(limit: int) -> Problem:
    return Problem(413, f"the request body is larger than {limit} bytes", kind="too-large")


class BodyLimitMiddleware(HttpMiddleware):
    """Refuses bodies over the limit (413) before a handler parses them.

    The body is read up to the limit and replayed to the app, so a client that sends no or a
    false Content-Length cannot get more past it than the limit either.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int | None] = body_limit_for):
        super().__init__(app)
        self.limit_for = limit_for

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope["path"])
        if limit is None or scope["method"] in UNREAD_BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await problem_response(too_large(limit))(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: nothing to answer.
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await problem_response(too_large(limit))(scope, receive, send)
                return
            more = message.get("more_body", False)

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# --- unexpected errors -------------------------------------------------------------------


class UnexpectedErrorMiddleware(HttpMiddleware):
    """Answers an unexpected exception as a 500 problem inside the middleware stack.

    Starlette's own catch-all answers outside every middleware, so its 500 would miss the
    security headers and the metrics; this one answers where they still apply.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as error:
            if started:
                raise
            await answer_unexpected(Request(scope), error)(scope, receive, send)
