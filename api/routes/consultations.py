"""Consultations: create, read, and the commands of docs/lifecycle.md on behalf of each party.

Each route is one line: every command on a case takes one path (`run_command`), driven by its
entry in the table of api/case_commands.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Response

from api.auth import Caller, ClinicianCaller, PartyCaller, PracticeCaller, ServiceCaller
from api.case_commands import (
    CLINICIAN_REPLY,
    CLOSE,
    PATIENT_REPLY,
    REASSIGN,
    SUBMIT,
    WITHDRAW,
    answer,
    content_of,
    found,
    party_sees,
    representative_of,
    run_command,
)
from api.idempotency import (
    REPLAYED_HEADER_DOC,
    CommandOnce,
    IdempotencyKey,
    idempotent_command_responses,
)
from api.openapi import CLINICIAN, PARTIES, PORTAL, PRACTICE
from api.problems import (
    AUTHENTICATED,
    invalid,
    not_found,
    problem_responses,
    refused,
)
from api.rate_limits import patient_key
from api.schemas import (
    AccessLogOut,
    ClinicianReply,
    CloseRequest,
    ConsultationOut,
    CreateConsultation,
    PatientMessageIn,
    ReassignIn,
    WithdrawIn,
)
from api.services import Deps, Services
from domain.base import Identifier
from domain.models import (
    ConsultationStart,
)
from domain.parties import Patient
from domain.representatives import representative_refusal
from domain.working_days import oslo_day
from store.access import Reader
from store.directory import Directory, RecipientRefusedError

# 409 only where a command is refused by the case's status: the commands declare it.
router = APIRouter(prefix="/v1/consultations", responses=problem_responses(*AUTHENTICATED, 404))


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

# The rules a well-formed command may be refused by (422 `refused`), as its 422 lists them.
_UNAVAILABLE = (
    "the clinician (or the chosen substitute) is not in the directory, takes no "
    "e-consultations, is absent that day, or their practice takes no new e-consultations"
)
_RECIPIENT = "recipient_id is neither the clinician nor their active substitute, or is missing "
_RECIPIENT += "while a substitute is active"
_NO_RELATION = "the patient has no active relation with the clinician"
_REPRESENTATIVE = "the representative may not write for the patient on that day"
_ATTACHMENTS = "an attachment id is not one this caller uploaded, or is already in a message"
_EXEMPTION = (
    "the exemption does not fit the patient's age on the day of the message, or is 'none' "
    "in a consultation started before claimed exemptions were judged"
)


RouteT = TypeVar("RouteT", bound=Callable[..., Awaitable[Response]])


async def _recipient(directory: Directory, body: CreateConsultation, today: date) -> str:
    """The clinician, or their active substitute when the patient chose them (docs/lifecycle.md)."""
    try:
        entry = await directory.admit_recipient(
            body.patient.id, body.clinician_id, body.recipient_id, today
        )
    except RecipientRefusedError as refusal:
        raise refused(str(refusal)) from refusal
    return entry.id


# --- the portal: create and the patient's commands -------------------------------------------


@router.post(
    "",
    operation_id="createConsultation",
    tags=[PORTAL],
    status_code=201,
    response_model=ConsultationOut,
    responses={
        201: _NEXT,
        **idempotent_command_responses(
            _UNAVAILABLE, _RECIPIENT, _NO_RELATION, _REPRESENTATIVE, _ATTACHMENTS
        ),
    },
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
    return await once.answered(await answer(services, caller, view, "create"))


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
    representative = representative_of(body.representative)
    if refusal := representative_refusal(patient, representative, today):
        raise refused(refusal)
    recipient_id = await _recipient(services.directory, body, today)
    message = await content_of(services, caller, body.message, message_id) if body.message else None
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


# --- the routes: the portal's, the clinician's, the practice's -----------------------------


def _command_route(
    path: str, operation_id: str, tag: str, *rules: str
) -> Callable[[RouteT], RouteT]:
    """A command's route: answered with the consultation, and links to what may follow; a
    well-formed command may be refused by `rules`."""
    return router.post(
        f"/{{consultation_id}}/{path}",
        operation_id=operation_id,
        tags=[tag],
        response_model=ConsultationOut,
        responses={200: _NEXT, **idempotent_command_responses(*rules)},
    )


@_command_route("submit", "submitConsultation", PORTAL, _REPRESENTATIVE, _ATTACHMENTS)
async def submit(
    consultation_id: ConsultationId,
    body: PatientMessageIn,
    caller: ServiceCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The patient (or their representative) sends the drafted consultation."""
    return await run_command(SUBMIT, services, caller, consultation_id, body, idempotency_key)


@_command_route("patient-replies", "replyAsPatient", PORTAL, _REPRESENTATIVE, _ATTACHMENTS)
async def patient_reply(
    consultation_id: ConsultationId,
    body: PatientMessageIn,
    caller: ServiceCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A follow-up from the patient (or their representative) while the case awaits them."""
    return await run_command(
        PATIENT_REPLY, services, caller, consultation_id, body, idempotency_key
    )


@_command_route("withdraw", "withdrawConsultation", PORTAL, _REPRESENTATIVE)
async def withdraw(
    consultation_id: ConsultationId,
    caller: ServiceCaller,
    services: Deps,
    body: WithdrawIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The patient (or their representative) takes the question back before any clinician
    reply; no body, or one without a representative, is the patient themselves."""
    # Without a representative it is the bodiless request it always was, under a key too.
    asked = body if body is not None and body.representative is not None else None
    return await run_command(WITHDRAW, services, caller, consultation_id, asked, idempotency_key)


@_command_route("replies", "replyToConsultation", CLINICIAN, _ATTACHMENTS, _EXEMPTION)
async def clinician_reply(
    consultation_id: ConsultationId,
    body: ClinicianReply,
    caller: ClinicianCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The clinician answers; `close` ends the case with this answer as the final message."""
    return await run_command(
        CLINICIAN_REPLY, services, caller, consultation_id, body, idempotency_key
    )


@_command_route("close", "closeConsultation", CLINICIAN, _ATTACHMENTS, _EXEMPTION)
async def close(
    consultation_id: ConsultationId,
    caller: ClinicianCaller,
    services: Deps,
    body: CloseRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The clinician closes the case, with or without a final message."""
    request = body or CloseRequest()
    return await run_command(CLOSE, services, caller, consultation_id, request, idempotency_key)


@_command_route(
    "reassign",
    "reassignConsultation",
    PRACTICE,
    "the new recipient is not a clinician of the case's practice, takes no e-consultations, "
    "or is absent today",
)
async def reassign(
    consultation_id: ConsultationId,
    body: ReassignIn,
    caller: PracticeCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Another clinician of the practice answers from now on; the reply deadline is kept."""
    return await run_command(REASSIGN, services, caller, consultation_id, body, idempotency_key)


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
    await found(services, caller, consultation_id, party_sees)
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
    await found(services, caller, consultation_id, party_sees)
    entries = await services.access_log.entries(consultation_id)
    return AccessLogOut(consultation_id=consultation_id, entries=entries)
