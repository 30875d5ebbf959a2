"""Consultations: create, read, and the commands of docs/lifecycle.md on behalf of each party."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from api.auth import Caller, CallerRole, ClinicianCaller, PartyCaller, PracticeCaller, ServiceCaller
from api.idempotency import CommandOnce, IdempotencyKey
from api.openapi import CLINICIAN, PARTIES, PORTAL, PRACTICE
from api.problems import AUTHENTICATED, invalid, not_found, problem_responses
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
from domain.models import (
    AttachmentRef,
    CloseCommand,
    ConsultationStart,
    Identifier,
    MessageContent,
    Patient,
    ReassignCommand,
    ReplyCommand,
    Representative,
    Role,
    SubmitCommand,
    WithdrawCommand,
)
from domain.representatives import representative_refusal
from domain.working_days import oslo_day
from store.access import Reader
from store.case_reads import ConsultationSummary
from store.directory import Directory, RecipientRefusedError

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
    )
}

ConsultationId = Annotated[Identifier, Path(description="consultation id")]
CommandT = TypeVar("CommandT", bound=BaseModel)


# --- helpers ---------------------------------------------------------------------------------


async def _visible_case(
    services: Services, caller: Caller, consultation_id: str
) -> ConsultationSummary:
    """The case if the caller is a party (the portal, or the clinician addressed); else 404."""
    case = await services.queries.summary(consultation_id)
    if case is None or (not caller.is_service and case.recipient_id != caller.hpr_number):
        raise not_found("consultation")
    return case


async def _shown(
    services: Services, caller: Caller, consultation_id: str, action: str
) -> ConsultationOut:
    """The consultation as GET shows it; content leaves the service only through the access log."""
    reader = Reader(actor_id=caller.actor_id, role=caller.role.value, action=action)
    detail = await services.queries.detail(consultation_id, read_by=reader)
    if detail is None:
        raise not_found("consultation")
    return ConsultationOut.of_detail(detail)


def _shows(
    services: Services, caller: Caller, action: str
) -> Callable[[str], Awaitable[ConsultationOut]]:
    """What a command answers: the consultation as GET shows it after the command."""
    return lambda consultation_id: _shown(services, caller, consultation_id, action)


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


async def _content(
    services: Services, caller: Caller, message: MessageIn, message_id: str
) -> MessageContent:
    return MessageContent(
        body=message.body,
        attachments=await _claim_checks(services, caller, message.attachment_ids, message_id),
    )


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
    once = CommandOnce(
        services,
        caller,
        idempotency_key,
        action="create",
        consultation_id=None,
        request=body,
        success_status=201,
    )
    if (earlier := await once.earlier_answer()) is not None:
        return earlier
    start = await _admitted_start(services, caller, body, once.consultation_id, once.message_id)

    async def apply(consultation_id: str) -> None:
        # A concurrent first use of the key may have chosen the case's id.
        await services.commands.open(
            start.model_copy(update={"consultation_id": consultation_id}), once.update_id
        )

    return await once.run(apply, _shows(services, caller, "create"))


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


async def _command_on_case(
    services: Services,
    caller: Caller,
    idempotency_key: str | None,
    consultation_id: str,
    *,
    action: str,
    request: BaseModel | None,
    build: Callable[[ConsultationSummary, str], Awaitable[CommandT]],
    send: Callable[[str, CommandT, str | None], Awaitable[object]],
    visible: Callable[[Services, Caller, str], Awaitable[ConsultationSummary]] = _visible_case,
) -> Response:
    """A command on a case: the first answer again for a repeated key; otherwise checked (404
    unless `visible`, 422), built with the key's message id (`build`), sent once (`send`, with
    the key's update id) and answered."""
    once = CommandOnce(
        services,
        caller,
        idempotency_key,
        action=action,
        consultation_id=consultation_id,
        request=request,
    )
    # Visibility first: a clinician the case was moved away from gets no replay of its content.
    case = await visible(services, caller, consultation_id)
    if (earlier := await once.earlier_answer()) is not None:
        return earlier
    command = await build(case, once.message_id)
    return await once.run(
        lambda case_id: send(case_id, command, once.update_id), _shows(services, caller, action)
    )


@router.post(
    "/{consultation_id}/submit",
    operation_id="submitConsultation",
    tags=[PORTAL],
    response_model=ConsultationOut,
    responses={200: _NEXT},
)
async def submit(
    consultation_id: ConsultationId,
    body: PatientMessageIn,
    caller: ServiceCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The patient (or their representative) sends the drafted consultation."""

    async def build(_case: ConsultationSummary, message_id: str) -> SubmitCommand:
        content = await _content(services, caller, body, message_id)
        return SubmitCommand(
            message_id=message_id,
            message=content,
            representative=_representative(body.representative),
        )

    return await _command_on_case(
        services,
        caller,
        idempotency_key,
        consultation_id,
        action="submit",
        request=body,
        build=build,
        send=services.commands.submit,
    )


@router.post(
    "/{consultation_id}/patient-replies",
    operation_id="replyAsPatient",
    tags=[PORTAL],
    response_model=ConsultationOut,
    responses={200: _NEXT},
)
async def patient_reply(
    consultation_id: ConsultationId,
    body: PatientMessageIn,
    caller: ServiceCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A follow-up from the patient (or their representative) while the case awaits them."""

    async def build(case: ConsultationSummary, message_id: str) -> ReplyCommand:
        return ReplyCommand(
            message_id=message_id,
            author_role=Role.PATIENT,
            author_id=case.patient_id,
            message=await _content(services, caller, body, message_id),
            representative=_representative(body.representative),
        )

    return await _command_on_case(
        services,
        caller,
        idempotency_key,
        consultation_id,
        action="patient_reply",
        request=body,
        build=build,
        send=services.commands.reply,
    )


@router.post(
    "/{consultation_id}/withdraw",
    operation_id="withdrawConsultation",
    tags=[PORTAL],
    response_model=ConsultationOut,
    responses={200: _NEXT},
)
async def withdraw(
    consultation_id: ConsultationId,
    caller: ServiceCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The patient takes the question back before any clinician reply."""

    async def build(case: ConsultationSummary, _message_id: str) -> WithdrawCommand:
        return WithdrawCommand(patient_id=case.patient_id)

    return await _command_on_case(
        services,
        caller,
        idempotency_key,
        consultation_id,
        action="withdraw",
        request=None,
        build=build,
        send=services.commands.withdraw,
    )


# --- the clinician's commands -------------------------------------------------------------------


@router.post(
    "/{consultation_id}/replies",
    operation_id="replyToConsultation",
    tags=[CLINICIAN],
    response_model=ConsultationOut,
    responses={200: _NEXT},
)
async def clinician_reply(
    consultation_id: ConsultationId,
    body: ClinicianReply,
    caller: ClinicianCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The clinician answers; `close` ends the case with this answer as the final message."""
    assert caller.hpr_number is not None
    author_id = caller.hpr_number

    async def build(_case: ConsultationSummary, message_id: str) -> ReplyCommand:
        return ReplyCommand(
            message_id=message_id,
            author_role=Role.CLINICIAN,
            author_id=author_id,
            message=await _content(services, caller, body, message_id),
            billable=body.billable,
            close=body.close,
        )

    return await _command_on_case(
        services,
        caller,
        idempotency_key,
        consultation_id,
        action="reply",
        request=body,
        build=build,
        send=services.commands.reply,
    )


@router.post(
    "/{consultation_id}/close",
    operation_id="closeConsultation",
    tags=[CLINICIAN],
    response_model=ConsultationOut,
    responses={200: _NEXT},
)
async def close(
    consultation_id: ConsultationId,
    caller: ClinicianCaller,
    services: Deps,
    body: CloseRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The clinician closes the case, with or without a final message."""
    assert caller.hpr_number is not None
    clinician_id = caller.hpr_number
    request = body or CloseRequest()

    async def build(_case: ConsultationSummary, message_id: str) -> CloseCommand:
        final = request.message
        return CloseCommand(
            message_id=message_id if final else None,
            clinician_id=clinician_id,
            message=await _content(services, caller, final, message_id) if final else None,
            billable=request.billable,
        )

    return await _command_on_case(
        services,
        caller,
        idempotency_key,
        consultation_id,
        action="close",
        request=request,
        build=build,
        send=services.commands.close,
    )


# --- the practice: reassignment ---------------------------------------------------------------


async def _case_of_practice(
    services: Services, caller: Caller, consultation_id: str
) -> ConsultationSummary:
    """The case if the caller administers its practice (or is an admin); else 404."""
    case = await services.queries.summary(consultation_id)
    if case is None or (
        caller.role == CallerRole.PRACTICE and case.practice_id != caller.practice_id
    ):
        raise not_found("consultation")
    return case


@router.post(
    "/{consultation_id}/reassign",
    operation_id="reassignConsultation",
    tags=[PRACTICE],
    response_model=ConsultationOut,
    responses={200: _NEXT},
)
async def reassign(
    consultation_id: ConsultationId,
    body: ReassignIn,
    caller: PracticeCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Another clinician of the practice answers from now on; the reply deadline is kept."""

    async def build(case: ConsultationSummary, _message_id: str) -> ReassignCommand:
        today = oslo_day(datetime.now(UTC))
        try:
            await services.directory.admit_reassignment(body.recipient_id, case.practice_id, today)
        except RecipientRefusedError as refused:
            raise invalid(str(refused)) from refused
        return ReassignCommand(
            recipient_id=body.recipient_id, reason=body.reason, by=caller.actor_id
        )

    return await _command_on_case(
        services,
        caller,
        idempotency_key,
        consultation_id,
        action="reassign",
        request=body,
        build=build,
        send=services.commands.reassign,
        visible=_case_of_practice,
    )


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
    await _visible_case(services, caller, consultation_id)
    return await _shown(services, caller, consultation_id, "read")


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
    await _visible_case(services, caller, consultation_id)
    entries = await services.access_log.entries(consultation_id)
    return AccessLogOut(consultation_id=consultation_id, entries=entries)
