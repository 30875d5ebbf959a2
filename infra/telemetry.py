"""Tracing and SDK metrics: OTLP export when configured, nothing exported otherwise.

OpenTelemetry allows one tracer provider per process, set once. `tracer_provider()` installs
it on first use and hands back the same one afterwards, so the API, the worker and every test
in a session share it; tests add their in-memory exporter with `add_span_exporter`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import opentelemetry.context
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Status
from opentelemetry.util.types import Attributes
from sqlalchemy.engine import Engine
from temporalio.api.common.v1 import Payload
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    HandleSignalInput,
    HandleUpdateInput,
    WorkflowInterceptorClassInput,
)

from infra.settings import Settings
from store.database import each_engine


class RecordWhileExporting(Sampler):
    """Records spans only once an exporter is added; until then every span is a cheap
    non-recording one that still carries (and passes on) its trace id, so logs keep theirs.

    Recording a span nobody exports costs the worker and the API several per cent of their CPU
    (each activity, each SQL statement, each request); with an exporter the caller's sampling
    decision is followed.
    """

    def __init__(self) -> None:
        self.exporting = False
        self._recording = ParentBased(ALWAYS_ON)
        self._on_export: list[Callable[[], None]] = []

    def on_export(self, callback: Callable[[], None]) -> None:
        """Run `callback` once spans are exported: now, or when the first exporter is added.

        For instrumentation that costs CPU on every call even for spans nobody records (the
        SQL statement listeners): it is attached only when its spans have somewhere to go.
        """
        if self.exporting:
            callback()
        else:
            self._on_export.append(callback)

    def start_exporting(self) -> None:
        self.exporting = True
        waiting, self._on_export = self._on_export, []
        for callback in waiting:
            callback()

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: trace.SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if not self.exporting:
            return SamplingResult(Decision.DROP)
        return self._recording.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "RecordWhileExporting"


def tracer_provider(service: str = "econsult") -> TracerProvider:
    """The process's SDK tracer provider, installed on the first call (its service name wins)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), sampler=RecordWhileExporting()
    )
    trace.set_tracer_provider(provider)
    # Every case-store engine, made before or after, traces its statements once spans export.
    each_engine(trace_statements)
    return provider


def export_spans_of(provider: TracerProvider, processor: SpanProcessor) -> None:
    """Hand `provider`'s spans to `processor`, and start recording them (RecordWhileExporting)."""
    provider.add_span_processor(processor)
    if isinstance(provider.sampler, RecordWhileExporting):
        provider.sampler.start_exporting()


def trace_statements(sync_engine: Engine) -> None:
    """A client span per statement: SQL text with placeholders, never the bound values.

    OpenTelemetry's SQLAlchemy instrumentation, per engine (its instrumentor patches engine
    creation process-wide and instruments once). No sqlcommenter: comments would put trace
    ids into statements, and so into the database's own logs and statement statistics.
    Attached once the process exports spans: its listeners run on every statement, recorded
    or not. The engine is held weakly until then, so waiting keeps no engine alive.
    """
    waiting = weakref.ref(sync_engine)

    def attach() -> None:
        engine = waiting()
        if engine is None:
            return
        connections = metrics.get_meter("econsult.store").create_up_down_counter(
            "db.client.connections.usage", unit="connections"
        )
        EngineTracer(  # type: ignore[no-untyped-call]
            trace.get_tracer("econsult.store"), engine, connections, enable_commenter=False
        )

    sampler = tracer_provider().sampler
    if isinstance(sampler, RecordWhileExporting):
        sampler.on_export(attach)
    else:
        attach()


def configure_tracing(settings: Settings, service: str) -> TracerProvider:
    """Spans recorded and exported only when an OTLP endpoint is set; trace ids always (logs
    carry them, Temporal headers pass them on).

    Spans carry ids, route templates, Temporal type names and SQL with placeholders: never
    paths, payloads or bound values.
    """
    provider = tracer_provider(service)
    if settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(
            endpoint=settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        )
        export_spans_of(provider, BatchSpanProcessor(ContentFreeSpanExporter(exporter)))
    return provider


def add_span_exporter(exporter: SpanExporter) -> TracerProvider:
    """Send every span of this process to `exporter` as it ends (tests: an in-memory one)."""
    provider = tracer_provider()
    export_spans_of(provider, SimpleSpanProcessor(ContentFreeSpanExporter(exporter)))
    return provider


class ContentFreeSpanExporter(SpanExporter):
    """Exports spans without exception messages or stack traces: only the exception's type.

    Tracers record an exception's text on the span (the Temporal interceptor also puts it in
    the status), and that text can quote a payload: an EPJ client echoing the entry it refused.
    """

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._exporter.export([_without_exception_text(span) for span in spans])

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)


_EXCEPTION_FIELDS_KEPT = ("exception.type", "exception.escaped")


def _without_exception_text(span: ReadableSpan) -> ReadableSpan:
    events = [
        Event(
            event.name,
            {k: v for k, v in (event.attributes or {}).items() if k in _EXCEPTION_FIELDS_KEPT},
            event.timestamp,
        )
        if event.name == "exception"
        else event
        for event in span.events
    ]
    status = span.status
    if status.description:
        # "ValueError: <message>" keeps "ValueError".
        status = Status(status.status_code, status.description.split(":", 1)[0])
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def temporal_runtime(metrics_bind_address: str | None) -> Runtime | None:
    """A Temporal runtime that serves the SDK's own worker metrics in Prometheus format."""
    if not metrics_bind_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_bind_address))
    )


class RequestTracingInterceptor(TracingInterceptor):
    """Temporal's tracing interceptor, with each update and signal handled in its caller's trace.

    The stock interceptor runs handlers in the trace of the request that *started* the
    workflow and only links the caller, so a reply's activities would land in the trace of the
    consultation's creation, weeks earlier. Here a reply's trace holds its HTTP request, the
    update, the handler and every activity the handler caused. Handlers called without trace
    headers (the CLI, the UI) keep the stock behaviour. Spans inside workflows are still the
    stock zero-length ones, made outside the sandbox and never on replay.
    """

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)
        return _CallerTracedWorkflowInterceptor


class _CallerTracedWorkflowInterceptor(TracingWorkflowInboundInterceptor):
    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        with self._callers_trace(input.headers):
            self._completed_span(f"ValidateUpdate:{input.update}", kind=trace.SpanKind.SERVER)
            self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        with self._callers_trace(input.headers):
            self._completed_span(f"HandleUpdate:{input.update}", kind=trace.SpanKind.SERVER)
            return await self.next.handle_update_handler(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        with self._callers_trace(input.headers):
            self._completed_span(f"HandleSignal:{input.signal}", kind=trace.SpanKind.SERVER)
            await self.next.handle_signal(input)

    @contextmanager
    def _callers_trace(self, headers: Mapping[str, Payload]) -> Iterator[None]:
        carrier: Any = None
        if headers.get(self.header_key):
            carrier = self.payload_converter.from_payloads([headers[self.header_key]])[0]
        carrier = carrier or self._load_workflow_context_carrier()
        context = self.text_map_propagator.extract(carrier) if carrier else Context()
        token = opentelemetry.context.attach(self._set_on_context(context))
        try:
            yield
        finally:
            opentelemetry.context.detach(token)
