"""Tracing (docs/operations.md): one trace from the HTTP request through the workflow to each
activity and its SQL, with ids and route templates only, never paths or content.

Each request carries a W3C `traceparent` the test chose, as a portal or gateway would, so the
test knows which trace is the request's.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from infra.telemetry import RecordWhileExporting, export_spans_of
from tests.api.support import Operated, Party, create, create_body, eventually, seed_clinicians


def traceparent() -> tuple[int, dict[str, str]]:
    trace_id, span_id = random.getrandbits(128), random.getrandbits(64)
    return trace_id, {"traceparent": f"00-{trace_id:032x}-{span_id:016x}-01"}


async def spans_of(
    stack: Operated, trace_id: int, until_span: str | tuple[str, ...], within: float = 15
) -> list[ReadableSpan]:
    """The trace's finished spans, once `until_span` (its last expected ones, a name as many
    times as it is listed) has ended."""
    last = Counter((until_span,) if isinstance(until_span, str) else until_span)

    async def of_trace() -> list[ReadableSpan]:
        return [s for s in stack.spans.get_finished_spans() if s.context.trace_id == trace_id]

    def ended(found: list[ReadableSpan]) -> bool:
        return last <= Counter(s.name for s in found)

    return await eventually(of_trace, ended, within)


async def create_traced(
    stack: Operated, party: Party, message: str, context: dict[str, str]
) -> dict[str, Any]:
    response = await stack.http.post(
        "/v1/consultations",
        json=create_body(party, message=message),
        headers={**party.service, **context},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def named(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert found, f"no span {name!r} in {sorted(s.name for s in spans)}"
    return found[0]


def ancestors(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[str]:
    by_id = {s.context.span_id: s for s in spans}
    names, parent = [], span.parent
    while parent is not None and parent.span_id in by_id:
        names.append(by_id[parent.span_id].name)
        parent = by_id[parent.span_id].parent
    return names


def descends_from(span: ReadableSpan, root: ReadableSpan, spans: Sequence[ReadableSpan]) -> bool:
    return span is root or root.name in ancestors(span, spans)


def sql_spans(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.attributes and "db.system" in s.attributes]


async def test_a_reply_is_one_trace_from_the_http_request_to_every_activity_it_caused(
    operated: Operated,
) -> None:
    http, party = operated.http, operated.party()
    await seed_clinicians(http, party)
    case = await create(http, party, message="I have had a rash for two weeks.")

    trace_id, context = traceparent()
    replied = await http.post(
        f"/v1/consultations/{case['id']}/replies",
        json={"body": "Use the cream twice a day.", "attachment_ids": []},
        headers={**party.doctor, **context},
    )
    assert replied.status_code == 200, replied.text
    # The reply's commit sends its notification and asks the frikort register; the settlement
    # commits after it, in the same workflow task.
    spans = await spans_of(operated, trace_id, until_span=("RunActivity:commit",) * 2)

    server = named(spans, "POST /v1/consultations/{consultation_id}/replies")
    assert server.kind == SpanKind.SERVER
    update = named(spans, "StartWorkflowUpdate:reply")
    assert server.name in ancestors(update, spans)
    assert ancestors(named(spans, "HandleUpdate:reply"), spans)[0] == update.name
    commits = [s for s in spans if s.name == "RunActivity:commit"]
    assert len(commits) == 2
    for run in commits:
        assert ancestors(run, spans)[:2] == ["StartActivity:commit", update.name]
        assert any(run.name in ancestors(sql, spans) for sql in sql_spans(spans))
    # No other activity: the first attempts answered.
    assert {s.name for s in spans if s.name.startswith("RunActivity:")} == {"RunActivity:commit"}
    assert all(descends_from(s, server, spans) for s in spans)


async def test_a_new_consultation_is_one_trace_through_the_workflow_run_and_its_start_checks(
    operated: Operated,
) -> None:
    http, party = operated.http, operated.party()
    await seed_clinicians(http, party)

    trace_id, context = traceparent()
    await create_traced(operated, party, "I have a rash.", context)
    spans = await spans_of(operated, trace_id, until_span="RunActivity:commit")

    server = named(spans, "POST /v1/consultations")
    start = named(spans, "StartUpdateWithStartWorkflow:EConsultation")
    assert server.name in ancestors(start, spans)
    assert ancestors(named(spans, "RunWorkflow:EConsultation"), spans)[0] == start.name
    for activity in ("check_directory", "commit"):
        assert server.name in ancestors(named(spans, f"RunActivity:{activity}"), spans)
    assert all(descends_from(s, server, spans) for s in spans)


async def test_spans_carry_route_templates_and_sql_placeholders_never_ids_paths_or_content(
    operated: Operated,
) -> None:
    http, party = operated.http, operated.party()
    await seed_clinicians(http, party)
    body = "Private: a rash on my arm."

    trace_id, context = traceparent()
    case = await create_traced(operated, party, body, context)
    listed = await http.get(
        f"/v1/patients/{party.patient}/consultations", headers={**party.service, **context}
    )
    assert listed.status_code == 200
    spans = await spans_of(operated, trace_id, until_span="RunActivity:commit")

    assert named(spans, "GET /v1/patients/{patient_id}/consultations").kind == SpanKind.SERVER
    assert sql_spans(spans)
    recorded = " ".join(
        f"{s.name} {dict(s.attributes or {})} {[e.attributes for e in s.events]}" for s in spans
    )
    for secret in (party.patient, body, "a rash", f"/v1/consultations/{case['id']}"):
        assert secret not in recorded


def test_spans_are_recorded_only_once_an_exporter_is_added_and_always_carry_a_trace_id() -> None:
    provider = TracerProvider(sampler=RecordWhileExporting())
    tracer = provider.get_tracer("test")

    with tracer.start_as_current_span("before") as unexported:
        # Nothing would receive it: not recorded, but logs and Temporal headers get its ids.
        assert not unexported.is_recording()
        assert unexported.get_span_context().is_valid

    exported = InMemorySpanExporter()
    export_spans_of(provider, SimpleSpanProcessor(exported))
    with tracer.start_as_current_span("after") as recorded:
        assert recorded.is_recording()
    assert [span.name for span in exported.get_finished_spans()] == ["after"]


def test_instrumentation_that_waits_for_an_exporter_is_attached_once_one_is_added() -> None:
    sampler = RecordWhileExporting()
    provider = TracerProvider(sampler=sampler)
    attached: list[str] = []

    sampler.on_export(lambda: attached.append("before"))
    assert attached == []  # nothing exports yet: the SQL listeners would cost for nothing

    export_spans_of(provider, SimpleSpanProcessor(InMemorySpanExporter()))
    sampler.on_export(lambda: attached.append("after"))

    assert attached == ["before", "after"]
