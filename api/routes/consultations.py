"""Consultations: create, read, and the commands of docs/lifecycle.md on behalf of each party.

Every command on a case takes one path (`_run`), driven by its entry in the table below: who
may see the case, how the workflow's command is built from the request, which update it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from api.auth import Caller, ClinicianCaller, PartyCaller, PracticeCaller, Scope, ServiceCaller
from api.commands import CaseUpdate
from api.idempotency import REPLAYED_HEADER_DOC, CommandOnce, IdempotencyKey
from api.openapi import CLINICIAN, PARTIES, PORTAL, PRACTICE
from api.problems import AUTHENTICATED, Problem, invalid, not_found, problem_responses
from api.rate_limits import consultation_key, patient_key
from api.schemas import (
    AccessLogOut,
    ClinicianReply,
    CloseRequest,
    ConsultationOut,
    CreateConsultation,
    MessageIn,
    PatientMessageIn,
    ReassignIn,
    RepresentativeIn,
)
from api.services import Deps, Services
from domain.base import Identifier
from domain.models import (
    AttachmentRef,
    CloseCommand,
    CloseReason,
    ConsultationStart,
    ConsultationView,
    MessageContent,
    ReassignCommand,
    ReplyCommand,
    Role,
    SubmitCommand,
    WithdrawCommand,
)
from domain.parties import Patient, Representative
from domain.representatives import representative_refusal
from domain.working_days import oslo_day
from store.access import Reader
from store.case_reads import ConsultationSummary
from store.directory import Directory, RecipientRefusedError
from workflows.econsultation import EConsultation

router = APIRouter(
    prefix="/v1/consultations",
    responses=problem_responses(*AUTHENTICATED, 404, 409),
)


def _links_from_id(*operations: tuple[str, str, str]) -> dict[str, dict[str, object]]:
    """OpenAPI links: what a client (and the fuzzer) can call next with the consultation's id."""
    return {
        name: {
            "operationRef": f"#/paths/~1v1~1consultations~1{{consultation_id}}{suffix}/{method}",
            "parameters": {"consultation_id": "$response.body#/id"},
        }
        for name, suffix, method in operations
    }


# Every command answers the consultation, so every answer links to what may follow it.
_NEXT = {
    "links": _links_from_id(
        ("ReadConsultation", "", "get"),
        ("ReadAccessLog", "~1access-log", "get"),
        ("Submit", "~1submit", "post"),
        ("PatientReply", "~1patient-replies", "post"),
        ("Withdraw", "~1withdraw", "post"),
        ("ClinicianReply", "~1replies", "post"),
        ("Close", "~1close", "post"),
        ("Reassign", "~1reassign", "post"),
    ),
    "headers": REPLAYED_HEADER_DOC,
}

ConsultationId = Annotated[Identifier, Path(description="consultation id")]
RequestT = TypeVar("RequestT")
CommandT = TypeVar("CommandT", bound=BaseModel)
RouteT = TypeVar("RouteT", bound=Callable[..., Awaitable[Response]])


# --- who sees a case ----------------------------------------------------------------------


def _party_sees(caller: Caller, case: ConsultationSummary) -> bool:
    """The portal sees every case; a clinician only those addressed to them."""
    return caller.is_service or case.recipient_id == caller.hpr_number


def _practice_sees(caller: Caller, case: ConsultationSummary) -> bool:
    """A practice administrator sees the cases of their practice; an admin every case."""
    return caller.scope != Scope.PRACTICE or case.practice_id == caller.practice_id


async def _found(
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


async def _answer(
    services: Services, caller: Caller, view: ConsultationView, action: str
) -> ConsultationOut:
    """The consultation as GET shows it, from the workflow's answer and the stored thread;
    content leaves the service only through the access log."""
    reader = Reader(actor_id=caller.actor_id, role=caller.role, action=action)
    return ConsultationOut.of_view(
        view, await services.queries.thread(view.consultation_id, reader)
    )


# --- what commands are built from ---------------------------------------------------------


async def _claim_checks(
    services: Services, caller: Caller, attachment_ids: list[str], message_id: str
) -> list[AttachmentRef]:
    """Attachments the caller uploaded and no other message holds, as claim checks (id, sha256)."""
    available = await services.attachments.unbound_of(caller.actor_id, attachment_ids, message_id)
    missing = [a for a in attachment_ids if a not in available]
    if missing:
        raise invalid(
            "unknown attachment ids (not uploaded by this caller, or already in a message): "
            + ", ".join(missing)
        )
    return [AttachmentRef(id=a, sha256=available[a]) for a in attachment_ids]


async def _recipient(directory: Directory, body: CreateConsultation, today: date) -> str:
    """The clinician, or their active substitute when the patient chose them (docs/lifecycle.md)."""
    try:
        entry = await directory.admit_recipient(
            body.patient.id, body.clinician_id, body.recipient_id, today
        )
    except RecipientRefusedError as refused:
        raise invalid(str(refused)) from refused
    return entry.id


# --- the portal: create and the patient's commands -------------------------------------------


@router.post(
    "",
    operation_id="createConsultation",
    tags=[PORTAL],
    status_code=201,
    response_model=ConsultationOut,
    responses={201: _NEXT},
)
async def create_consultation(
    body: CreateConsultation,
    caller: ServiceCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Open a consultation; with a message it is submitted at once."""
    services.patient_writes.enforce(caller.limit_key, patient_key(body.patient.id))
    once = CommandOnce(
        services,
        caller,
        idempotency_key,
        action="create",
        consultation_id=None,
        request=body,
        success_status=201,
    )
    # The key's first use, if any, chose the case's id.
    if (earlier := await once.claim()) is not None:
        return earlier
    start = await once.checked(
        _admitted_start(services, caller, body, once.consultation_id, once.message_id)
    )
    view = await once.sent(services.commands.open(start, once.update_id))
    return await once.answered(await _answer(services, caller, view, "create"))


async def _admitted_start(
    services: Services,
    caller: Caller,
    body: CreateConsultation,
    consultation_id: str,
    message_id: str,
) -> ConsultationStart:
    """Everything checkable before the workflow starts is checked here (422), nothing written."""
    if not body.copayment_accepted:
        raise invalid("the patient must accept the co-payment before sending")
    today = oslo_day(datetime.now(UTC))
    patient = Patient.model_validate(body.patient.model_dump())
    representative = _representative(body.representative)
    if refusal := representative_refusal(patient, representative, today):
        raise invalid(refusal)
    recipient_id = await _recipient(services.directory, body, today)
    message = await _content(services, caller, body.message, message_id) if body.message else None
    return ConsultationStart(
        consultation_id=consultation_id,
        patient=patient,
        clinician_id=body.clinician_id,
        recipient_id=recipient_id,
        copayment_accepted=True,
        message=message,
        message_id=message_id if message else None,
        representative=representative,
    )


def _representative(given: RepresentativeIn | None) -> Representative | None:
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
        return await _content(self.services, self.caller, message, self.message_id)


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


async def _run(
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
        case = await _found(services, caller, consultation_id, command.sees)
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
            await _found(services, caller, consultation_id, command.sees)
        raise
    return await once.answered(await _answer(services, caller, view, command.action))


def _writer_key(
    command: CaseCommand[RequestT, CommandT], case: ConsultationSummary | None, consultation_id: str
) -> str:
    """Whose write limit a portal command spends: the patient's, where the command reads the
    case anyway; else (a submit) the consultation's, which costs no read: a case is one
    patient's, and how many drafts a patient has is limited at create."""
    if command.reads_case and case is not None:
        return patient_key(case.patient_id)
    return consultation_key(consultation_id)


async def _content(
    services: Services, caller: Caller, message: MessageIn, message_id: str
) -> MessageContent:
    return MessageContent(
        body=message.body,
        attachments=await _claim_checks(services, caller, message.attachment_ids, message_id),
    )


async def _submitted(asked: Asked[PatientMessageIn]) -> SubmitCommand:
    return SubmitCommand(
        message_id=asked.message_id,
        message=await asked.content(asked.body),
        representative=_representative(asked.body.representative),
    )


async def _patient_replied(asked: Asked[PatientMessageIn]) -> ReplyCommand:
    return ReplyCommand(
        message_id=asked.message_id,
        author_role=Role.PATIENT,
        author_id=asked.found_case.patient_id,
        message=await asked.content(asked.body),
        representative=_representative(asked.body.representative),
    )


async def _withdrawn(asked: Asked[None]) -> WithdrawCommand:
    return WithdrawCommand(patient_id=asked.found_case.patient_id)


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
    except RecipientRefusedError as refused:
        raise invalid(str(refused)) from refused
    return ReassignCommand(
        recipient_id=asked.body.recipient_id, reason=asked.body.reason, by=asked.caller.actor_id
    )


SUBMIT = CaseCommand("submit", _party_sees, False, _submitted, EConsultation.submit)
PATIENT_REPLY = CaseCommand(
    "patient_reply", _party_sees, True, _patient_replied, EConsultation.reply
)
WITHDRAW = CaseCommand("withdraw", _party_sees, True, _withdrawn, EConsultation.withdraw)
CLINICIAN_REPLY = CaseCommand("reply", _party_sees, False, _clinician_replied, EConsultation.reply)
CLOSE = CaseCommand("close", _party_sees, False, _closed, EConsultation.close)
REASSIGN = CaseCommand("reassign", _practice_sees, True, _reassigned, EConsultation.reassign)


# --- the routes: the portal's, the clinician's, the practice's -----------------------------


def _command_route(path: str, operation_id: str, tag: str) -> Callable[[RouteT], RouteT]:
    """A command's route: answered with the consultation, and links to what may follow."""
    return router.post(
        f"/{{consultation_id}}/{path}",
        operation_id=operation_id,
        tags=[tag],
        response_model=ConsultationOut,
        responses={200: _NEXT},
    )


@_command_route("submit", "submitConsultation", PORTAL)
async def submit(
    consultation_id: ConsultationId,
    body: PatientMessageIn,
    caller: ServiceCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The patient (or their representative) sends the drafted consultation."""
    return await _run(SUBMIT, services, caller, consultation_id, body, idempotency_key)


@_command_route("patient-replies", "replyAsPatient", PORTAL)
async def patient_reply(
    consultation_id: ConsultationId,
    body: PatientMessageIn,
    caller: ServiceCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A follow-up from the patient (or their representative) while the case awaits them."""
    return await _run(PATIENT_REPLY, services, caller, consultation_id, body, idempotency_key)


@_command_route("withdraw", "withdrawConsultation", PORTAL)
async def withdraw(
    consultation_id: ConsultationId,
    caller: ServiceCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The patient takes the question back before any clinician reply."""
    return await _run(WITHDRAW, services, caller, consultation_id, None, idempotency_key)


@_command_route("replies", "replyToConsultation", CLINICIAN)
async def clinician_reply(
    consultation_id: ConsultationId,
    body: ClinicianReply,
    caller: ClinicianCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The clinician answers; `close` ends the case with this answer as the final message."""
    return await _run(CLINICIAN_REPLY, services, caller, consultation_id, body, idempotency_key)


@_command_route("close", "closeConsultation", CLINICIAN)
async def close(
    consultation_id: ConsultationId,
    caller: ClinicianCaller,
    services: Deps,
    body: CloseRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The clinician closes the case, with or without a final message."""
    request = body or CloseRequest()
    return await _run(CLOSE, services, caller, consultation_id, request, idempotency_key)


@_command_route("reassign", "reassignConsultation", PRACTICE)
async def reassign(
    consultation_id: ConsultationId,
    body: ReassignIn,
    caller: PracticeCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Another clinician of the practice answers from now on; the reply deadline is kept."""
    return await _run(REASSIGN, services, caller, consultation_id, body, idempotency_key)


# --- both parties: reading --------------------------------------------------------------------


@router.get(
    "/{consultation_id}",
    operation_id="getConsultation",
    tags=PARTIES,
    response_model=ConsultationOut,
)
async def read_consultation(
    consultation_id: ConsultationId, caller: PartyCaller, services: Deps
) -> ConsultationOut:
    """The consultation with its messages; the read is written to the access log."""
    await _found(services, caller, consultation_id, _party_sees)
    reader = Reader(actor_id=caller.actor_id, role=caller.role, action="read")
    detail = await services.queries.detail(consultation_id, read_by=reader)
    if detail is None:
        raise not_found("consultation")
    return ConsultationOut.of_detail(detail)


@router.get(
    "/{consultation_id}/access-log",
    operation_id="readAccessLog",
    tags=PARTIES,
    response_model=AccessLogOut,
)
async def access_log(
    consultation_id: ConsultationId, caller: PartyCaller, services: Deps
) -> AccessLogOut:
    """Who read this consultation's content, as what, and when."""
    await _found(services, caller, consultation_id, _party_sees)
    entries = await services.access_log.entries(consultation_id)
    return AccessLogOut(consultation_id=consultation_id, entries=entries)
