"""A command's answer is serialized by pydantic in one step: the same bytes as before, when
it went through a dict and JSONResponse, so kept answers and fresh ones stay comparable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.responses import JSONResponse

from api.idempotency import json_answer
from api.schemas import ConsultationOut
from domain.models import CloseReason, CopaymentStatus, Status
from domain.parties import Representative, RepresentativeRelation
from store.attachments import AttachmentMeta
from store.case_reads import ConsultationDetail, MessageView

AT = datetime(2027, 3, 24, 9, 0, 0, 123456, tzinfo=UTC)


def closed_case() -> ConsultationOut:
    """Every kind of value an answer carries: dates, nulls, an amount, non-ASCII text."""
    detail = ConsultationDetail(
        id="case-1",
        patient_id="patient-1",
        practice_id="practice-1",
        status=Status.CLOSED,
        clinician_id="9100001",
        recipient_id="9100002",
        created_at=AT,
        submitted_at=AT + timedelta(minutes=1),
        reply_due_at=None,
        overdue=True,
        closed_at=AT + timedelta(days=2),
        close_reason=CloseReason.CLINICIAN,
        copayment={
            "status": CopaymentStatus.CHARGED,
            "tariff": "2ae",
            "amount_nok": Decimal("170.50"),
        },
        messages=[
            MessageView(
                id="m-1",
                author_role="patient",
                author_id="patient-1",
                body='Blåbær og "utslett"\n\u2028på armen 😷',
                created_at=AT,
                representative=Representative(
                    id="parent-1", relation=RepresentativeRelation.PARENT
                ),
                attachments=[
                    AttachmentMeta(
                        id="a-1",
                        filename="bilde æ.png",
                        content_type="image/png",
                        size=68,
                        sha256="0" * 64,
                    )
                ],
            ),
            MessageView(
                id="m-2",
                author_role="clinician",
                author_id="9100002",
                body="Smør med krem.",
                created_at=AT,
            ),
        ],
    )
    return ConsultationOut.of_detail(detail)


def test_a_command_answers_the_bytes_jsonresponse_would_have() -> None:
    case = closed_case()

    answer = json_answer(case, 201)
    before = JSONResponse(case.model_dump(mode="json"), 201)

    assert answer.body == before.body
    assert answer.status_code == before.status_code
    assert answer.headers["content-type"] == before.headers["content-type"]
