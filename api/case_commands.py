"""The commands on a case: one table, one path.

Every command on a consultation (submit, patient reply, withdraw, clinician reply, close,
reassign) is an entry of the table at the end: who may see the case, how the workflow's
command is built from the request, which update it is sent as. `run_command` is the one path
they all take: found (404), the key's first answer again, checked and built (422, not kept),
sent once (the workflow's refusal is kept), answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from fastapi import Response
from pydantic import BaseModel

from api.auth import Caller, Scope
from api.commands import CaseUpdate
from api.idempotency import CommandOnce
from api.problems import Problem, not_found, refused
from api.rate_limits import consultation_key, patient_key
from api.schemas import (
    ClinicianReply,
    CloseRequest,
    ConsultationOut,
    MessageIn,
    PatientMessageIn,
    ReassignIn,
    RepresentativeIn,
    WithdrawIn,
)
from api.services import Services
from domain.models import (
    AttachmentRef,
    CloseCommand,
    CloseReason,
    ConsultationView,
    MessageContent,
    ReassignCommand,
    ReplyCommand,
    Role,
    SubmitCommand,
    WithdrawCommand,
)
from domain.parties import Representative
from domain.working_days import oslo_day
from store.access import Reader
from store.case_reads import ConsultationSummary
from store.directory import RecipientRefusedError
from workflows.econsultation import EConsultation

RequestT = TypeVar("RequestT")
CommandT = TypeVar("CommandT", bound=BaseModel)


# --- who sees a case ----------------------------------------------------------------------


def party_sees(caller: Caller, case: ConsultationSummary) -> bool:
    """The portal sees every case; a clinician only those addressed to them."""
    return caller.is_service or case.recipient_id == caller.hpr_number


def practice_sees(caller: Caller, case: ConsultationSummary) -> bool:
    """A practice administrator sees the cases of their practice; an admin every case."""
    return caller.scope != Scope.PRACTICE or case.practice_id == caller.practice_id


async def found(
    services: Services,
    caller: Caller,
    consultation_id: str,
    sees: Callable[[Caller, ConsultationSummary], bool],
) -> ConsultationSummary:
    """The case if the caller may see it; else 404."""
    case = await services.queries.summary(consultation_id)
    if case is None or not sees(caller, case):
        raise not_found("consultation")
    return case


async def answer(
    services: Services, caller: Caller, view: ConsultationView, action: str
) -> ConsultationOut:
    """The consultation as GET shows it: the case from the update's answer, the thread from
    the case store in one statement with its access-log entry (one transaction on SQLite).

    The update does not carry the thread: a case's bodies (up to 5,000 characters each, all
    messages across runs) would be copied into the history twice per command (the commit's
    marker, the update's answer), growing a run's history with the square of its messages
    towards Temporal's 2 MB payload and 50 MB history limits, and history is read through the
    codec endpoint with no access-log entry. Content leaves the service only here."""
    reader = Reader(actor_id=caller.actor_id, role=caller.role, action=action)
    return ConsultationOut.of_view(
        view, await services.queries.thread(view.consultation_id, reader)
    )


# --- what commands are built from ---------------------------------------------------------


async def claim_checks(
    services: Services, caller: Caller, attachment_ids: list[str], message_id: str
) -> list[AttachmentRef]:
    """Attachments the caller uploaded and no other message holds, as claim checks (id, sha256)."""
    available = await services.attachments.unbound_of(caller.actor_id, attachment_ids, message_id)
    missing = [a for a in attachment_ids if a not in available]
    if missing:
        raise refused(
            "unknown attachment ids (not uploaded by this caller, or already in a message): "
            + ", ".join(missing)
        )
    return [AttachmentRef(id=a, sha256=available[a]) for a in attachment_ids]


def representative_of(given: RepresentativeIn | None) -> Representative | None:
    return Representative.model_validate(given.model_dump()) if given else None


# --- the commands on a case: one table, one path ---------------------------------------


@dataclass(frozen=True)
class Asked(Generic[RequestT]):
    """A command as asked on a case: what its workflow command is built from."""

    services: Services
    caller: Caller
    body: RequestT
    # Read only when a key must be checked against it or the command is built from it.
    case: ConsultationSummary | None
    message_id: str

    @property
    def found_case(self) -> ConsultationSummary:
        assert self.case is not None, "a command built from the case has it read first"
        return self.case

    async def content(self, message: MessageIn) -> MessageContent:
        """The message with its attachments as claim checks (422 for one not the caller's)."""
        return await content_of(self.services, self.caller, message, self.message_id)


@dataclass(frozen=True)
class CaseCommand(Generic[RequestT, CommandT]):
    """One command on a case: who may see the case, how its workflow command is built from
    the request, and the workflow update it is sent as."""

    action: str
    sees: Callable[[Caller, ConsultationSummary], bool]
    # Whether the command is built from the case's row; otherwise the workflow's validators
    # refuse a caller who is not its party, and the case is read only on a refusal.
    reads_case: bool
    build: Callable[[Asked[RequestT]], Awaitable[CommandT]]
    update: CaseUpdate[CommandT]


async def run_command(
    command: CaseCommand[RequestT, CommandT],
    services: Services,
    caller: Caller,
    consultation_id: str,
    body: RequestT,
    idempotency_key: str | None,
) -> Response:
    """The path of every command on a case: found (404), the key's first answer again, checked
    and built (422, not kept), sent once (the workflow's refusal is kept), answered."""
    once = CommandOnce(
        services,
        caller,
        idempotency_key,
        action=command.action,
        consultation_id=consultation_id,
        request=body if isinstance(body, BaseModel) else None,
    )
    # Visibility first: a clinician the case was moved away from gets no replay of its content.
    case = None
    if idempotency_key is not None or command.reads_case:
        case = await found(services, caller, consultation_id, command.sees)
    if caller.is_service:
        services.patient_writes.enforce(
            caller.limit_key, _writer_key(command, case, consultation_id)
        )
    if (earlier := await once.claim()) is not None:
        return earlier
    try:
        asked = Asked(services, caller, body, case, once.message_id)
        built = await once.checked(command.build(asked))
        view = await once.sent(
            services.commands.send(consultation_id, command.update, built, once.update_id)
        )
    except Problem as problem:
        if case is None and problem.status < 500:
            # As if read first: one who may not see the case learns nothing else of it.
            await found(services, caller, consultation_id, command.sees)
        raise
    return await once.answered(await answer(services, caller, view, command.action))


def _writer_key(
    command: CaseCommand[RequestT, CommandT], case: ConsultationSummary | None, consultation_id: str
) -> str:
    """Whose write limit a portal command spends: the patient's, where the command reads the
    case anyway; else (a submit) the consultation's, which costs no read: a case is one
    patient's, and how many drafts a patient has is limited at create."""
    if command.reads_case and case is not None:
        return patient_key(case.patient_id)
    return consultation_key(consultation_id)


async def content_of(
    services: Services, caller: Caller, message: MessageIn, message_id: str
) -> MessageContent:
    return MessageContent(
        body=message.body,
        attachments=await claim_checks(services, caller, message.attachment_ids, message_id),
    )


async def _submitted(asked: Asked[PatientMessageIn]) -> SubmitCommand:
    return SubmitCommand(
        message_id=asked.message_id,
        message=await asked.content(asked.body),
        representative=representative_of(asked.body.representative),
    )


async def _patient_replied(asked: Asked[PatientMessageIn]) -> ReplyCommand:
    return ReplyCommand(
        message_id=asked.message_id,
        author_role=Role.PATIENT,
        author_id=asked.found_case.patient_id,
        message=await asked.content(asked.body),
        representative=representative_of(asked.body.representative),
    )


async def _withdrawn(asked: Asked[WithdrawIn | None]) -> WithdrawCommand:
    given = asked.body.representative if asked.body else None
    return WithdrawCommand(
        patient_id=asked.found_case.patient_id, representative=representative_of(given)
    )


async def _clinician_replied(asked: Asked[ClinicianReply]) -> ReplyCommand:
    assert asked.caller.hpr_number is not None
    return ReplyCommand(
        message_id=asked.message_id,
        author_role=Role.CLINICIAN,
        author_id=asked.caller.hpr_number,
        message=await asked.content(asked.body),
        billable=asked.body.billable,
        close=asked.body.close,
        exemption=asked.body.exemption,
        exemption_note=asked.body.exemption_note,
    )


async def _closed(asked: Asked[CloseRequest]) -> CloseCommand:
    assert asked.caller.hpr_number is not None
    final = asked.body.message
    return CloseCommand(
        message_id=asked.message_id if final else None,
        clinician_id=asked.caller.hpr_number,
        message=await asked.content(final) if final else None,
        billable=asked.body.billable,
        exemption=asked.body.exemption,
        exemption_note=asked.body.exemption_note,
        reason=CloseReason.DECLINED if asked.body.reason == "declined" else None,
    )


async def _reassigned(asked: Asked[ReassignIn]) -> ReassignCommand:
    today = oslo_day(datetime.now(UTC))
    try:
        await asked.services.directory.admit_reassignment(
            asked.body.recipient_id, asked.found_case.practice_id, today
        )
    except RecipientRefusedError as refusal:
        raise refused(str(refusal)) from refusal
    return ReassignCommand(
        recipient_id=asked.body.recipient_id, reason=asked.body.reason, by=asked.caller.actor_id
    )


SUBMIT = CaseCommand("submit", party_sees, False, _submitted, EConsultation.submit)
PATIENT_REPLY = CaseCommand(
    "patient_reply", party_sees, True, _patient_replied, EConsultation.reply
)
WITHDRAW = CaseCommand("withdraw", party_sees, True, _withdrawn, EConsultation.withdraw)
CLINICIAN_REPLY = CaseCommand("reply", party_sees, False, _clinician_replied, EConsultation.reply)
CLOSE = CaseCommand("close", party_sees, False, _closed, EConsultation.close)
REASSIGN = CaseCommand("reassign", practice_sees, True, _reassigned, EConsultation.reassign)
