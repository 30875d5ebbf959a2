"""What the service writes itself into a patient's thread or a journal entry is Norwegian
(domain/texts.py); a practice's own text is used as given; a message's journal text is the
message as written, with who wrote on whose behalf in structured fields only."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from domain import decisions, texts
from domain.decisions import Decided, Decision, TimerKind
from domain.effects import DirectoryAnswer, JournalEntryInput, JournalEntryKind
from domain.models import (
    CloseCommand,
    CloseReason,
    ConsultationStart,
    ConsultationState,
    MessageContent,
    ReassignCommand,
    ReplyCommand,
    Role,
    WithdrawCommand,
)
from domain.parties import Patient, Representative, RepresentativeRelation
from domain.practices import decline_message
from domain.working_days import OSLO

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=OSLO)
PATIENT = Patient(id="01017012345", birth_date=date(1980, 5, 17))
CLINICIAN = "hpr-1"
DIRECTORY = DirectoryAnswer(
    recipient_id=CLINICIAN, practice_id="practice-1", reply_within_working_days=5
)
HOLDER = Representative(
    id="holder-1", relation=RepresentativeRelation.POWER_OF_ATTORNEY, birth_date=date(1970, 6, 1)
)
# Words of the English texts these replaced: none may come back into a service-written text.
ENGLISH = ("E-consultation", " by the ", "patient", "clinician", "Reason")


def _start(representative: Representative | None = None) -> ConsultationStart:
    return ConsultationStart(
        consultation_id="c-1",
        patient=PATIENT,
        clinician_id=CLINICIAN,
        recipient_id=CLINICIAN,
        copayment_accepted=True,
        message=MessageContent(body="Jeg har utslett på armen."),
        representative=representative,
    )


def _decided(decision: Decision) -> Decided:
    assert isinstance(decision, Decided), decision
    return decision


def _opened(representative: Representative | None = None) -> Decided:
    start = _start(representative)
    return decisions.open_case(decisions.new_case(start, NOW), start, DIRECTORY, NOW, "m-0")


def _entry(decision: Decision, kind: JournalEntryKind) -> JournalEntryInput:
    [entry] = [e for e in _decided(decision).event.journal if e.kind == kind]
    return entry


def _answered(state: ConsultationState) -> ConsultationState:
    reply = ReplyCommand(
        author_role=Role.CLINICIAN, author_id=CLINICIAN, message=MessageContent(body="Krem.")
    )
    return _decided(decisions.reply(state, reply, NOW, "m-1")).state


def test_a_representatives_journal_text_is_the_message_as_written() -> None:
    entry = _entry(_opened(HOLDER), JournalEntryKind.MESSAGE)

    assert entry.text == "Jeg har utslett på armen."
    assert PATIENT.id not in entry.text and HOLDER.id not in entry.text
    # Who wrote on whose behalf: structured fields, for the record system's FHIR sender.
    assert (entry.author_id, entry.patient_id) == (HOLDER.id, PATIENT.id)
    assert entry.representative is not None
    assert entry.representative.relation == RepresentativeRelation.POWER_OF_ATTORNEY


def test_the_close_and_the_decline_are_journaled_in_norwegian() -> None:
    state = _opened().state
    closing = CloseCommand(clinician_id=CLINICIAN)
    declining = CloseCommand(clinician_id=CLINICIAN, reason=CloseReason.DECLINED)

    closed = _entry(decisions.close(state, closing, NOW, "m-1"), JournalEntryKind.CLOSE)
    declined = _entry(
        decisions.close(state, declining, NOW, "m-1", decline_message(None).text),
        JournalEntryKind.CLOSE,
    )

    assert closed.text == texts.CLOSED_BY_CLINICIAN == "E-konsultasjonen er avsluttet av behandler."
    assert declined.text == texts.DECLINED_BY_CLINICIAN


def test_the_withdrawal_is_journaled_in_norwegian() -> None:
    entry = _entry(
        decisions.withdraw(_opened().state, WithdrawCommand(patient_id=PATIENT.id), NOW),
        JournalEntryKind.WITHDRAW,
    )

    assert entry.text == texts.WITHDRAWN_BY_PATIENT


def test_a_withdrawal_by_a_representative_names_no_one_in_its_text() -> None:
    kin = Representative(
        id="kin-1", relation=RepresentativeRelation.NEXT_OF_KIN, birth_date=date(1950, 1, 1)
    )
    command = WithdrawCommand(patient_id=PATIENT.id, representative=kin)
    entry = _entry(decisions.withdraw(_opened().state, command, NOW), JournalEntryKind.WITHDRAW)

    # Who withdrew is the entry's author; the text says "on the patient's behalf", no id.
    assert entry.text == texts.WITHDRAWN_BY_REPRESENTATIVE
    assert entry.author_id == "kin-1"
    assert "kin-1" not in entry.text and PATIENT.id not in entry.text


def test_the_automatic_close_is_journaled_in_norwegian_with_the_days_waited() -> None:
    state = _answered(_opened().state)
    later = NOW + decisions.INACTIVE_CLOSES_AFTER

    entry = _entry(
        decisions.timer_fired(state, TimerKind.CLOSE_FOR_INACTIVITY, later),
        JournalEntryKind.AUTO_CLOSE,
    )

    assert entry.text == (
        "E-konsultasjonen er avsluttet automatisk etter 30 dager uten svar fra pasienten."
    )


def test_the_reassignment_is_journaled_in_norwegian_with_the_reason_as_written() -> None:
    command = ReassignCommand(recipient_id="hpr-2", reason="Fastlegen er syk.", by="admin-7")
    moved = DIRECTORY.model_copy(update={"recipient_id": "hpr-2"})

    entry = _entry(
        decisions.reassign(_opened().state, command, moved, NOW + timedelta(hours=1)),
        JournalEntryKind.REASSIGN,
    )

    assert entry.text == (
        "E-konsultasjonen er overført av admin-7 fra behandler hpr-1 til behandler hpr-2. "
        "Begrunnelse: Fastlegen er syk."
    )


def test_the_default_decline_text_is_the_norwegian_one_and_a_practices_own_is_used_as_given() -> (
    None
):
    own = "We are closed for e-consultations this week."

    assert decline_message(None).text == texts.DEFAULT_DECLINE_MESSAGE
    assert decline_message("  ").text == texts.DEFAULT_DECLINE_MESSAGE
    assert decline_message(own).text == own


def test_no_service_written_text_is_english() -> None:
    written = [
        value for name, value in vars(texts).items() if name.isupper() and isinstance(value, str)
    ]

    assert len(written) == 8
    for text in written:
        assert not any(word in text for word in ENGLISH), text
