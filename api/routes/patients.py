"""Parties: a patient's relations to clinicians (admin) and whom they may write to (portal)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.auth import AdminCaller, ServiceCaller
from api.openapi import ADMIN, PORTAL
from api.problems import (
    AUTHENTICATED,
    NOT_IN_DIRECTORY,
    PERIOD_REVERSED,
    not_found,
    problem_responses,
    refusal_responses,
    refused,
)
from api.schemas import RecipientsOut, RelationIn, RelationOut
from api.services import Deps
from domain.base import Identifier
from domain.working_days import oslo_day
from store.directory import Relation

router = APIRouter(prefix="/v1/patients", responses=problem_responses(*AUTHENTICATED, 404))

PatientId = Annotated[Identifier, Path(description="patient id")]
ClinicianId = Annotated[Identifier, Path(description="HPR number")]


@router.put(
    "/{patient_id}/relations/{clinician_id}",
    operation_id="putRelation",
    tags=[ADMIN],
    response_model=RelationOut,
    responses={
        201: {"model": RelationOut, "description": "relation created"},
        **refusal_responses(PERIOD_REVERSED, NOT_IN_DIRECTORY.format(who="the clinician")),
    },
)
async def put_relation(
    patient_id: PatientId,
    clinician_id: ClinicianId,
    body: RelationIn,
    _caller: AdminCaller,
    services: Deps,
    response: Response,
) -> RelationOut:
    """Record the patient's regular GP or a treating clinician (200 replaced, 201 created)."""
    if body.valid_to is not None and body.valid_to < body.valid_from:
        raise refused("valid_to must not be before valid_from")
    if await services.directory.get(clinician_id) is None:
        raise refused(f"clinician {clinician_id} is not in the directory")
    relation = Relation(patient_id=patient_id, clinician_id=clinician_id, **body.model_dump())
    created = await services.directory.put_relation(relation)
    response.status_code = 201 if created else 200
    return RelationOut.model_validate(relation.model_dump())


@router.delete(
    "/{patient_id}/relations/{clinician_id}",
    operation_id="deleteRelation",
    tags=[ADMIN],
    status_code=204,
)
async def end_relation(
    patient_id: PatientId, clinician_id: ClinicianId, _caller: AdminCaller, services: Deps
) -> Response:
    """End the relation today; consultations already open are not touched."""
    today = oslo_day(datetime.now(UTC))
    if not await services.directory.end_relation(patient_id, clinician_id, today):
        raise not_found("relation")
    return Response(status_code=204)


@router.get(
    "/{patient_id}/recipients",
    operation_id="listRecipients",
    tags=[PORTAL],
    response_model=RecipientsOut,
)
async def recipients(
    patient_id: PatientId, _caller: ServiceCaller, services: Deps
) -> RecipientsOut:
    """Every clinician the patient may write to today, with availability and expected reply."""
    items = await services.recipients.of_patient(patient_id, datetime.now(UTC))
    return RecipientsOut(patient_id=patient_id, items=items)
