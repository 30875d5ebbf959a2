"""Tracing and SDK metrics: OTLP export when configured, nothing exported otherwise."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from infra.settings import Settings


def configure_tracing(
    settings: Settings, service: str, exporter: SpanExporter | None = None
) -> TracerProvider:
    """Install a tracer provider; spans carry ids and statuses only (no content attributes)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is None and settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(
            endpoint=settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        )
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def temporal_runtime(metrics_bind_address: str | None) -> Runtime | None:
    """A Temporal runtime that serves the SDK's own worker metrics in Prometheus format."""
    if not metrics_bind_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_bind_address))
    )
