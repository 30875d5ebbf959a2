"""The case store's read models: a consultation reads back as the workflow recorded it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models import (
    CloseReason,
    ConsultationFacts,
    ConsultationRecord,
    Copayment,
    CopaymentStatus,
    MessageContent,
    MessageToStore,
    Representative,
    RepresentativeRelation,
    Role,
    Status,
)
from store.consultations import Consultations
from store.database import create_engine, create_session_factory
from store.queries import ConsultationQueries

NOW = datetime(2027, 3, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


async def test_a_consultation_reads_back_with_every_fact_and_its_copayment_nested(
    store: async_sessionmaker[AsyncSession],
) -> None:
    record = ConsultationRecord(
        consultation_id=uuid.uuid4().hex,
        patient_id="patient-1",
        clinician_id="9100001",
        recipient_id="9100002",
        practice_id="practice-1",
        status=Status.CLOSED,
        created_at=NOW,
        submitted_at=NOW + timedelta(minutes=1),
        reply_due_at=NOW + timedelta(days=3),
        overdue=True,
        closed_at=NOW + timedelta(days=4),
        close_reason=CloseReason.CLINICIAN,
        copayment=Copayment(
            status=CopaymentStatus.CHARGED, tariff="2ae", amount_nok=Decimal("170.00")
        ),
        revision=7,
    )
    await Consultations(store).save(record)

    summary = await ConsultationQueries(store).summary(record.consultation_id)

    assert summary is not None
    facts = set(ConsultationFacts.model_fields)
    assert summary.model_dump(include=facts) == record.model_dump(include=facts)
    assert (summary.id, summary.patient_id, summary.practice_id) == (
        record.consultation_id,
        record.patient_id,
        record.practice_id,
    )
    assert summary.can_patient_reply is False


async def test_a_message_reads_back_with_its_representative_nested(
    store: async_sessionmaker[AsyncSession],
) -> None:
    record = ConsultationRecord(
        consultation_id=uuid.uuid4().hex,
        patient_id="child-1",
        clinician_id="9100001",
        recipient_id="9100001",
        practice_id="practice-1",
        status=Status.AWAITING_CLINICIAN,
        created_at=NOW,
        revision=1,
    )
    await Consultations(store).save(record)
    parent = Representative(id="parent-1", relation=RepresentativeRelation.PARENT)
    for message_id, representative in (("by-parent", parent), ("by-child", None)):
        await Consultations(store).add_message(
            MessageToStore(
                message_id=f"{record.consultation_id}-{message_id}",
                consultation_id=record.consultation_id,
                author_role=Role.PATIENT,
                author_id="child-1",
                content=MessageContent(body=message_id),
                created_at=NOW,
                representative=representative,
            )
        )

    detail = await ConsultationQueries(store).detail(record.consultation_id)

    assert detail is not None
    assert [(m.body, m.representative) for m in detail.messages] == [
        ("by-child", None),
        ("by-parent", parent),
    ]
