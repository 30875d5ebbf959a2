"""Consultations: create, read, and the commands of SPEC section 2 on behalf of each party."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path

from api.auth import Caller, ClinicianCaller, PartyCaller, PracticeCaller, ServiceCaller
from api.auth import Role as CallerRole
from api.problems import AUTHENTICATED, Problem, invalid, not_found, problem_responses
from api.schemas import (
    AccessLogEntryOut,
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
from store.access import ClaimedKey
from store.directory import Directory, RecipientRefusedError
from store.queries import ConsultationSummary

router = APIRouter(
    prefix="/v1/consultations",
    tags=["consultations"],
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
IdempotencyKey = Annotated[str | None, Header(min_length=1, max_length=128)]


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
    detail = await services.queries.detail(consultation_id)
    if detail is None:
        raise not_found("consultation")
    await services.access_log.record(consultation_id, caller.actor_id, caller.role.value, action)
    return ConsultationOut.of_detail(detail)


async def _claim_checks(
    services: Services, caller: Caller, attachment_ids: list[str]
) -> list[AttachmentRef]:
    """Attachments the caller uploaded and no message holds yet, as claim checks (id, sha256)."""
    available = await services.attachments.unbound_of(caller.actor_id, attachment_ids)
    missing = [a for a in attachment_ids if a not in available]
    if missing:
        raise invalid(
            "unknown attachment ids (not uploaded by this caller, or already in a message): "
            + ", ".join(missing)
        )
    return [AttachmentRef(id=a, sha256=available[a]) for a in attachment_ids]


async def _content(services: Services, caller: Caller, message: MessageIn) -> MessageContent:
    return MessageContent(
        body=message.body,
        attachments=await _claim_checks(services, caller, message.attachment_ids),
    )


async def _recipient(directory: Directory, body: CreateConsultation, today: date) -> str:
    """The clinician, or their active substitute when the patient chose them (SPEC section 1)."""
    try:
        entry = await directory.admit_recipient(
            body.patient.id, body.clinician_id, body.recipient_id, today
        )
    except RecipientRefusedError as refused:
        raise invalid(str(refused)) from refused
    return entry.id


def _digest(body: CreateConsultation) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _message_id() -> str:
    return uuid.uuid4().hex


# --- the portal: create and the patient's commands -------------------------------------------


@router.post("", status_code=201, response_model=ConsultationOut, responses={201: _NEXT})
async def create_consultation(
    body: CreateConsultation,
    caller: ServiceCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> ConsultationOut:
    """Open a consultation; with a message it is submitted at once."""
    digest = _digest(body)
    if idempotency_key is not None:
        earlier = await services.idempotency_keys.find(caller.subject, idempotency_key)
        if earlier is not None:
            return await _replayed(services, caller, body, digest, earlier)
    start = await _admitted_start(services, caller, body, uuid.uuid4().hex)
    if idempotency_key is not None:
        claimed = await services.idempotency_keys.claim(
            caller.subject, idempotency_key, digest, start.consultation_id
        )
        if claimed.consultation_id != start.consultation_id:
            # A concurrent request with the same key got there first.
            return await _replayed(services, caller, body, digest, claimed)
    await services.commands.open(start)
    return await _shown(services, caller, start.consultation_id, "create")


async def _replayed(
    services: Services,
    caller: Caller,
    body: CreateConsultation,
    digest: str,
    earlier: ClaimedKey,
) -> ConsultationOut:
    """A retried create answers the same consultation; another request under the key is refused."""
    if earlier.request_sha256 != digest:
        raise Problem(
            409,
            "this Idempotency-Key was used for a different request",
            kind="idempotency-key-reused",
        )
    consultation_id = earlier.consultation_id
    if await services.queries.summary(consultation_id) is None:
        # The first attempt never got the case stored: drive the same start again.
        await services.commands.open(await _admitted_start(services, caller, body, consultation_id))
    return await _shown(services, caller, consultation_id, "create")


async def _admitted_start(
    services: Services, caller: Caller, body: CreateConsultation, consultation_id: str
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
    message = await _content(services, caller, body.message) if body.message else None
    return ConsultationStart(
        consultation_id=consultation_id,
        patient=patient,
        clinician_id=body.clinician_id,
        recipient_id=recipient_id,
        copayment_accepted=True,
        message=message,
        message_id=_message_id() if message else None,
        representative=representative,
    )


def _representative(given: RepresentativeIn | None) -> Representative | None:
    return Representative.model_validate(given.model_dump()) if given else None


@router.post("/{consultation_id}/submit", response_model=ConsultationOut, responses={200: _NEXT})
async def submit(
    consultation_id: ConsultationId, body: PatientMessageIn, caller: ServiceCaller, services: Deps
) -> ConsultationOut:
    """The patient (or their representative) sends the drafted consultation."""
    await _visible_case(services, caller, consultation_id)
    command = SubmitCommand(
        message_id=_message_id(),
        message=await _content(services, caller, body),
        representative=_representative(body.representative),
    )
    await services.commands.submit(consultation_id, command)
    return await _shown(services, caller, consultation_id, "submit")


@router.post(
    "/{consultation_id}/patient-replies", response_model=ConsultationOut, responses={200: _NEXT}
)
async def patient_reply(
    consultation_id: ConsultationId, body: PatientMessageIn, caller: ServiceCaller, services: Deps
) -> ConsultationOut:
    """A follow-up from the patient (or their representative) while the case awaits them."""
    case = await _visible_case(services, caller, consultation_id)
    command = ReplyCommand(
        message_id=_message_id(),
        author_role=Role.PATIENT,
        author_id=case.patient_id,
        message=await _content(services, caller, body),
        representative=_representative(body.representative),
    )
    await services.commands.reply(consultation_id, command)
    return await _shown(services, caller, consultation_id, "patient_reply")


@router.post("/{consultation_id}/withdraw", response_model=ConsultationOut, responses={200: _NEXT})
async def withdraw(
    consultation_id: ConsultationId, caller: ServiceCaller, services: Deps
) -> ConsultationOut:
    """The patient takes the question back before any clinician reply."""
    case = await _visible_case(services, caller, consultation_id)
    await services.commands.withdraw(consultation_id, WithdrawCommand(patient_id=case.patient_id))
    return await _shown(services, caller, consultation_id, "withdraw")


# --- the clinician's commands -------------------------------------------------------------------


@router.post("/{consultation_id}/replies", response_model=ConsultationOut, responses={200: _NEXT})
async def clinician_reply(
    consultation_id: ConsultationId, body: ClinicianReply, caller: ClinicianCaller, services: Deps
) -> ConsultationOut:
    """The clinician answers; `close` ends the case with this answer as the final message."""
    await _visible_case(services, caller, consultation_id)
    assert caller.hpr_number is not None
    command = ReplyCommand(
        message_id=_message_id(),
        author_role=Role.CLINICIAN,
        author_id=caller.hpr_number,
        message=await _content(services, caller, body),
        billable=body.billable,
        close=body.close,
    )
    await services.commands.reply(consultation_id, command)
    return await _shown(services, caller, consultation_id, "reply")


@router.post("/{consultation_id}/close", response_model=ConsultationOut, responses={200: _NEXT})
async def close(
    consultation_id: ConsultationId,
    caller: ClinicianCaller,
    services: Deps,
    body: CloseRequest | None = None,
) -> ConsultationOut:
    """The clinician closes the case, with or without a final message."""
    await _visible_case(services, caller, consultation_id)
    assert caller.hpr_number is not None
    request = body or CloseRequest()
    message = await _content(services, caller, request.message) if request.message else None
    command = CloseCommand(
        message_id=_message_id() if message else None,
        clinician_id=caller.hpr_number,
        message=message,
        billable=request.billable,
    )
    await services.commands.close(consultation_id, command)
    return await _shown(services, caller, consultation_id, "close")


# --- the practice: reassignment ---------------------------------------------------------------


@router.post("/{consultation_id}/reassign", response_model=ConsultationOut, responses={200: _NEXT})
async def reassign(
    consultation_id: ConsultationId,
    body: ReassignIn,
    caller: PracticeCaller,
    services: Deps,
    idempotency_key: IdempotencyKey = None,
) -> ConsultationOut:
    """Another clinician of the practice answers from now on; the reply deadline is kept."""
    case = await services.queries.summary(consultation_id)
    if case is None or (
        caller.role == CallerRole.PRACTICE and case.practice_id != caller.practice_id
    ):
        raise not_found("consultation")
    today = oslo_day(datetime.now(UTC))
    try:
        await services.directory.admit_reassignment(body.recipient_id, case.practice_id, today)
    except RecipientRefusedError as refused:
        raise invalid(str(refused)) from refused
    command = ReassignCommand(
        recipient_id=body.recipient_id, reason=body.reason, by=caller.actor_id
    )
    await services.commands.reassign(consultation_id, command)
    return await _shown(services, caller, consultation_id, "reassign")


# --- both parties: reading --------------------------------------------------------------------


@router.get("/{consultation_id}", response_model=ConsultationOut)
async def read_consultation(
    consultation_id: ConsultationId, caller: PartyCaller, services: Deps
) -> ConsultationOut:
    """The consultation with its messages; the read is written to the access log."""
    await _visible_case(services, caller, consultation_id)
    return await _shown(services, caller, consultation_id, "read")


@router.get("/{consultation_id}/access-log", response_model=AccessLogOut)
async def access_log(
    consultation_id: ConsultationId, caller: PartyCaller, services: Deps
) -> AccessLogOut:
    """Who read this consultation's content, as what, and when."""
    await _visible_case(services, caller, consultation_id)
    entries = await services.access_log.entries(consultation_id)
    return AccessLogOut(
        consultation_id=consultation_id,
        entries=[AccessLogEntryOut.model_validate(e.model_dump()) for e in entries],
    )
