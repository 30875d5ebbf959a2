"""The checks of each command: what the workflow's validators refuse before anything reaches
the history, and its handlers check again under the lock. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.copayment import exemption_misfit
from domain.models import (
    OPEN_AFTER_SUBMIT,
    CloseCommand,
    ConsultationStart,
    ConsultationState,
    ReassignCommand,
    Refusal,
    ReplyCommand,
    Role,
    Status,
    SubmitCommand,
    WithdrawCommand,
)
from domain.parties import NO_EXEMPTION, ClinicianExemption, ExemptionCode, Representative
from domain.representatives import representative_refusal


@dataclass(frozen=True)
class Refused:
    reason: str
    refusal: Refusal = Refusal.INVALID_TRANSITION


def is_duplicate(state: ConsultationState, message_id: str | None) -> bool:
    return message_id is not None and message_id in state.seen_message_ids


def _party(state: ConsultationState, role: Role, author_id: str) -> Refused | None:
    party = state.recipient_id if role == Role.CLINICIAN else state.patient.id
    if author_id != party:
        return Refused(f"not the {role} of this consultation", Refusal.NOT_A_PARTY)
    return None


def _representative(
    state: ConsultationState, representative: Representative | None, today: date
) -> Refused | None:
    """The check the workflow repeats under its lock and on replay: a command it took from a
    `guardian` before guardianship was retired is judged as it was then."""
    reason = representative_refusal(state.patient, representative, today, recorded=True)
    return Refused(reason, Refusal.REPRESENTATIVE_NOT_ALLOWED) if reason else None


def check_new_representative(
    state: ConsultationState, representative: Representative | None, today: date
) -> Refused | None:
    """A new command's representative under today's rules (a `guardian` is refused): for the
    API and the update validators, which admit commands and are never replayed."""
    reason = representative_refusal(state.patient, representative, today)
    return Refused(reason, Refusal.REPRESENTATIVE_NOT_ALLOWED) if reason else None


def _exemption(
    state: ConsultationState, exemption: ClinicianExemption | None, today: date | None
) -> Refused | None:
    """The clinician's code must fit the patient on the message's day where the service can
    check it; "none" is taken where the claim is judged (a case started before keeps its
    rules, and the frozen 1.0 flow passes no day: its cases are never judged)."""
    if not state.exemptions_judged:
        if exemption == NO_EXEMPTION:
            return Refused(
                "exemption 'none' is only taken in consultations started since the clinician "
                "judges the patient's claimed exemption",
                Refusal.EXEMPTION_NOT_ALLOWED,
            )
        return None
    if not isinstance(exemption, ExemptionCode) or today is None:
        return None
    misfit = exemption_misfit(exemption, state.patient.birth_date, today)
    return Refused(misfit, Refusal.EXEMPTION_NOT_ALLOWED) if misfit else None


def check_start(state: ConsultationState, start: ConsultationStart, today: date) -> Refused | None:
    if not start.copayment_accepted:
        return Refused(
            "the patient has not accepted the co-payment", Refusal.COPAYMENT_NOT_ACCEPTED
        )
    return _representative(state, start.representative, today)


def check_submit(state: ConsultationState, command: SubmitCommand, today: date) -> Refused | None:
    if is_duplicate(state, command.message_id):
        return None
    if state.status != Status.DRAFT:
        return Refused(f"submit is not allowed in status {state.status}")
    return _representative(state, command.representative, today)


def check_reply(state: ConsultationState, command: ReplyCommand, today: date) -> Refused | None:
    if is_duplicate(state, command.message_id):
        return None
    status = state.status
    if command.author_role == Role.CLINICIAN:
        if refused := _party(state, Role.CLINICIAN, command.author_id):
            return refused
        if status not in OPEN_AFTER_SUBMIT:
            return Refused(f"the clinician cannot reply in status {status}")
        if command.representative is not None:
            return Refused(
                "only the patient's side writes through a representative",
                Refusal.REPRESENTATIVE_NOT_ALLOWED,
            )
        return _exemption(state, command.exemption, today)
    if command.author_role == Role.PATIENT:
        if refused := _party(state, Role.PATIENT, command.author_id):
            return refused
        if status != Status.AWAITING_PATIENT:
            return Refused(f"the patient cannot reply in status {status}")
        return _representative(state, command.representative, today)
    return Refused("only the patient and the clinician write messages")


def check_close(
    state: ConsultationState, command: CloseCommand, today: date | None = None
) -> Refused | None:
    if refused := _party(state, Role.CLINICIAN, command.clinician_id):
        return refused
    if state.status not in OPEN_AFTER_SUBMIT:
        return Refused(f"close is not allowed in status {state.status}")
    return _exemption(state, command.exemption, today)


def check_withdraw(
    state: ConsultationState, command: WithdrawCommand, today: date
) -> Refused | None:
    if refused := _party(state, Role.PATIENT, command.patient_id):
        return refused
    if state.status != Status.AWAITING_CLINICIAN or state.clinician_has_replied:
        return Refused("withdraw is only allowed before any clinician reply")
    return _representative(state, command.representative, today)


def check_reassign(state: ConsultationState, command: ReassignCommand) -> Refused | None:
    if state.status not in OPEN_AFTER_SUBMIT:
        return Refused(f"reassign is not allowed in status {state.status}")
    return None
