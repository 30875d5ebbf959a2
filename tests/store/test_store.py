"""The case store on SQLite and on PostgreSQL: every write is idempotent by a unique key."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.effects import (
    Audience,
    MessageToStore,
    NotificationEvent,
    NotificationInput,
)
from domain.models import (
    AttachmentRef,
    CloseReason,
    ConsultationFacts,
    Copayment,
    CopaymentOutcome,
    CopaymentStatus,
    MessageContent,
    Role,
    Status,
)
from domain.parties import Patient, Representative, RepresentativeRef, RepresentativeRelation
from store.access import AccessLog, Reader
from store.case_reads import ConsultationQueries
from store.case_writes import Consultations, UnknownAttachmentError
from store.charges import Charges
from store.directory import Directory, DirectoryEntry, Substitute
from store.journal import JournalTable
from store.outbox import Outbox, OutboxState
from store.tables import Attachment, JournalEntry, Message, Notification
from tests.store.support import NOW, Sessions, record
from tests.support import case_row, count, journal_entry, sha256


@pytest.fixture
async def consultation_id(store: Sessions) -> str:
    """A new draft case in the store."""
    consultation_id = uuid.uuid4().hex
    await Consultations(store).save(record(consultation_id, 1, Status.DRAFT))
    return consultation_id


async def test_a_stale_consultation_write_never_overwrites_a_newer_one(
    store: Sessions, consultation_id: str
) -> None:
    consultations = Consultations(store)

    assert await consultations.save(record(consultation_id, 3, Status.AWAITING_PATIENT))
    assert not await consultations.save(record(consultation_id, 2, Status.AWAITING_CLINICIAN))

    row = await case_row(store, consultation_id)
    assert row is not None
    assert (row.status, row.revision) == ("awaiting_patient", 3)
    assert row.created_at == NOW  # aware UTC on both backends


async def test_a_message_stored_twice_is_one_row(store: Sessions, consultation_id: str) -> None:
    message = MessageToStore(
        message_id=uuid.uuid4().hex,
        consultation_id=consultation_id,
        author_role=Role.PATIENT,
        author_id="patient-1",
        content=MessageContent(body="Rash on my arm."),
        created_at=NOW,
    )

    first = await Consultations(store).add_message(message)
    second = await Consultations(store).add_message(message)

    assert first == second
    assert await count(store, Message, consultation_id) == 1


async def test_a_message_with_an_unknown_attachment_is_refused_and_not_stored(
    store: Sessions, consultation_id: str
) -> None:
    message = MessageToStore(
        message_id=uuid.uuid4().hex,
        consultation_id=consultation_id,
        author_role=Role.PATIENT,
        author_id="patient-1",
        content=MessageContent(
            body="See photo.", attachments=[AttachmentRef(id="missing", sha256="0" * 64)]
        ),
        created_at=NOW,
    )

    with pytest.raises(UnknownAttachmentError):
        await Consultations(store).add_message(message)

    assert await count(store, Message, consultation_id) == 0


async def test_a_case_row_its_message_and_its_notification_land_together_or_not_at_all(
    store: Sessions, consultation_id: str
) -> None:
    consultations = Consultations(store)

    def message(attachments: list[AttachmentRef]) -> MessageToStore:
        return MessageToStore(
            message_id=uuid.uuid4().hex,
            consultation_id=consultation_id,
            author_role=Role.PATIENT,
            author_id="patient-1",
            content=MessageContent(body="See photo.", attachments=attachments),
            created_at=NOW,
        )

    update = record(consultation_id, 2, Status.AWAITING_CLINICIAN)
    told = [new_message_notification(consultation_id, queued=True)]
    refused = message([AttachmentRef(id="missing", sha256="0" * 64)])
    with pytest.raises(UnknownAttachmentError):
        await consultations.save_with(update, refused, told)
    row = await case_row(store, consultation_id)
    assert row is not None
    assert (row.status, row.revision) == ("draft", 1)  # the row's upsert was rolled back
    assert await count(store, Message, consultation_id) == 0
    assert await count(store, Notification, consultation_id) == 0

    written = message([])
    assert await consultations.save_with(update, written, told)
    assert not await consultations.save_with(update, written, told)  # a retry repeats nothing
    row = await case_row(store, consultation_id)
    assert row is not None
    assert (row.status, row.revision) == ("awaiting_clinician", 2)
    assert await count(store, Message, consultation_id) == 1
    assert await count(store, Notification, consultation_id) == 1
    assert await Outbox(store).settled(told[0].notification_key) == OutboxState(
        sent=False, failed_status=None
    )


async def test_a_message_binds_its_uploaded_attachments(
    store: Sessions, consultation_id: str
) -> None:
    data = b"%PDF-1.4 test"
    attachment_id = uuid.uuid4().hex
    async with store.begin() as session:
        session.add(
            Attachment(
                id=attachment_id,
                uploaded_by="portal",
                filename="lab.pdf",
                content_type="application/pdf",
                size=len(data),
                sha256=sha256(data),
                content=data,
                created_at=NOW,
            )
        )
    message_id = uuid.uuid4().hex
    await Consultations(store).add_message(
        MessageToStore(
            message_id=message_id,
            consultation_id=consultation_id,
            author_role=Role.PATIENT,
            author_id="patient-1",
            content=MessageContent(
                body="Lab results attached.",
                attachments=[AttachmentRef(id=attachment_id, sha256=sha256(data))],
            ),
            created_at=NOW,
        )
    )

    async with store() as session:
        attachment = await session.get(Attachment, attachment_id)
    assert attachment is not None
    assert (attachment.consultation_id, attachment.message_id) == (consultation_id, message_id)


async def test_a_journal_entry_is_written_once_per_key(
    store: Sessions, consultation_id: str
) -> None:
    entry = journal_entry(consultation_id=consultation_id)

    references = {await JournalTable(store).write(entry) for _ in range(3)}

    assert len(references) == 1
    assert await count(store, JournalEntry, consultation_id) == 1


def new_message_notification(consultation_id: str, *, queued: bool = False) -> NotificationInput:
    return NotificationInput(
        notification_key=f"{consultation_id}:2:new_message:clinician",
        consultation_id=consultation_id,
        audience=Audience.CLINICIAN,
        recipient_id="9100001",
        event=NotificationEvent.NEW_MESSAGE,
        reply_due_at=NOW + timedelta(days=7),
        occurred_at=NOW,
        queued=queued,
    )


async def test_a_notification_is_queued_once_per_event(
    store: Sessions, consultation_id: str
) -> None:
    notification = new_message_notification(consultation_id)
    outbox = Outbox(store)

    assert await outbox.enqueue(notification)
    assert not await outbox.enqueue(notification)
    assert await outbox.mark_sent(notification.notification_key)

    assert await outbox.settled(notification.notification_key) == OutboxState(
        sent=True, failed_status=None
    )
    assert await count(store, Notification, consultation_id) == 1
    assert not await outbox.mark_sent("no-such-notification")


async def test_a_consultation_is_charged_at_most_once(
    store: Sessions, consultation_id: str
) -> None:
    patient = Patient(id="patient-1", birth_date=date(1980, 1, 1))
    charges = Charges(store)
    first = CopaymentOutcome(
        status=CopaymentStatus.CHARGED, tariff="2ae", amount_nok=Decimal("170.00"), settled_at=NOW
    )
    retry = first.model_copy(update={"tariff": "2aek", "settled_at": NOW + timedelta(hours=9)})

    assert await charges.record_once(consultation_id, patient, first) == first
    assert await charges.record_once(consultation_id, patient, retry) == first


async def test_a_substitute_is_active_between_its_dates_inclusive(
    store: Sessions,
) -> None:
    directory = Directory(store)
    clinician_id = uuid.uuid4().hex[:12]
    substitute = Substitute(
        clinician_id="vikar-1", valid_from=date(2027, 7, 1), valid_to=date(2027, 7, 31)
    )
    await directory.put(
        DirectoryEntry(
            id=clinician_id,
            name="Dr. Fastlege",
            practice_id="practice-1",
            accepts_econsultations=True,
            substitute=substitute,
        )
    )
    await directory.set_closed_days("practice-1", [date(2027, 12, 24)])

    entry = await directory.get(clinician_id)

    assert entry is not None
    assert entry.active_substitute(date(2027, 6, 30)) is None
    assert entry.active_substitute(date(2027, 7, 1)) == substitute
    assert entry.active_substitute(date(2027, 7, 31)) == substitute
    assert entry.active_substitute(date(2027, 8, 1)) is None
    assert await directory.closed_days("practice-1") == [date(2027, 12, 24)]


async def test_a_consultation_reads_back_with_every_fact_and_its_copayment_nested(
    store: Sessions,
) -> None:
    written = record(uuid.uuid4().hex, 7, Status.CLOSED).model_copy(
        update={
            "recipient_id": "9100002",
            "submitted_at": NOW + timedelta(minutes=1),
            "reply_due_at": NOW + timedelta(days=3),
            "overdue": True,
            "closed_at": NOW + timedelta(days=4),
            "close_reason": CloseReason.CLINICIAN,
            "copayment": Copayment(
                status=CopaymentStatus.CHARGED, tariff="2ae", amount_nok=Decimal("170.00")
            ),
        }
    )
    await Consultations(store).save(written)

    read = await ConsultationQueries(store).summary(written.consultation_id)

    assert read is not None
    facts = set(ConsultationFacts.model_fields)
    assert read.model_dump(include=facts) == written.model_dump(include=facts)
    assert (read.id, read.patient_id, read.practice_id) == (
        written.consultation_id,
        written.patient_id,
        written.practice_id,
    )


async def test_a_read_for_a_reader_is_logged_once_and_a_missing_case_not_at_all(
    store: Sessions, consultation_id: str
) -> None:
    reader = Reader(actor_id="9100001", role="clinician", action="read")

    found = await ConsultationQueries(store).detail(consultation_id, read_by=reader)
    missing = await ConsultationQueries(store).detail(f"{consultation_id}-missing", read_by=reader)

    assert found is not None and found.id == consultation_id
    assert missing is None
    log = AccessLog(store)
    assert [(e.actor_id, e.role, e.action) for e in await log.entries(consultation_id)] == [
        ("9100001", "clinician", "read")
    ]
    assert await log.entries(f"{consultation_id}-missing") == []


async def test_a_message_reads_back_with_its_representative_nested(
    store: Sessions, consultation_id: str
) -> None:
    parent = Representative(id="parent-1", relation=RepresentativeRelation.PARENT)
    for name, representative in (("by-parent", parent), ("by-patient", None)):
        await Consultations(store).add_message(
            MessageToStore(
                message_id=f"{consultation_id}-{name}",
                consultation_id=consultation_id,
                author_role=Role.PATIENT,
                author_id="patient-1",
                content=MessageContent(body=name),
                created_at=NOW,
                representative=representative,
            )
        )

    detail = await ConsultationQueries(store).detail(consultation_id)

    assert detail is not None
    assert [(m.body, m.representative) for m in detail.messages] == [
        ("by-parent", RepresentativeRef(id="parent-1", relation=RepresentativeRelation.PARENT)),
        ("by-patient", None),
    ]
