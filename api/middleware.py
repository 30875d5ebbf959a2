"""What every HTTP request passes through: a trace span, Prometheus metrics, no-store header.

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

from __future__ import annotations

import time

from fastapi.telemetry import TelemetryConfig
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import route_template

REQUESTS = Counter(
    "econsult_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "econsult_http_request_seconds", "HTTP request latency", ["method", "route", "status"]
)
tracer = trace.get_tracer("econsult.api")

# For FastAPI(telemetry=...): no native spans, metrics or logs (see the module docstring).
NATIVE_TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class ResponseMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
