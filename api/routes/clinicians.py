"""The clinician directory: read by everyone who addresses clinicians, kept by admins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.auth import AdminCaller, DirectoryReader
from api.openapi import ADMIN, DIRECTORY_READERS
from api.problems import (
    AUTHENTICATED,
    NOT_IN_DIRECTORY,
    not_found,
    problem_responses,
    refusal_responses,
    refused,
)
from api.schemas import AbsenceIn, ClinicianIn, ClinicianOut, SubstituteOut
from api.services import Deps, Services
from domain.base import Identifier
from domain.working_days import oslo_day, reply_due_at
from store.directory import Absence, DirectoryEntry, Substitute

router = APIRouter(prefix="/v1/clinicians", responses=problem_responses(*AUTHENTICATED, 404))

ClinicianId = Annotated[Identifier, Path(description="HPR number")]


async def _shown(services: Services, entry: DirectoryEntry) -> ClinicianOut:
    now = datetime.now(UTC)
    substitute = None
    if entry.substitute is not None:
        found = await services.directory.get(entry.substitute.clinician_id)
        substitute = SubstituteOut(
            clinician_id=entry.substitute.clinician_id,
            name=found.name if found else None,
            valid_from=entry.substitute.valid_from,
            valid_to=entry.substitute.valid_to,
            active=entry.substitute.active_on(oslo_day(now)),
        )
    expected = None
    if entry.accepts_econsultations:
        closed_days = await services.directory.closed_days(entry.practice_id)
        expected = reply_due_at(now, entry.reply_within_working_days, closed_days)
    return ClinicianOut(
        id=entry.id,
        name=entry.name,
        practice_id=entry.practice_id,
        accepts_econsultations=entry.accepts_econsultations,
        reply_within_working_days=entry.reply_within_working_days,
        substitute=substitute,
        expected_reply_by=expected,
        specialist_in_general_practice=entry.specialist_in_general_practice,
        absences=[AbsenceIn.model_validate(a.model_dump()) for a in entry.absences],
    )


@router.get(
    "/{clinician_id}",
    operation_id="getClinician",
    tags=DIRECTORY_READERS,
    response_model=ClinicianOut,
)
async def read_clinician(
    clinician_id: ClinicianId, _caller: DirectoryReader, services: Deps
) -> ClinicianOut:
    """Whether the clinician takes e-consultations, the substitute, and when to expect a reply."""
    entry = await services.directory.get(clinician_id)
    if entry is None:
        raise not_found("clinician")
    return await _shown(services, entry)


@router.put(
    "/{clinician_id}",
    operation_id="putClinician",
    tags=[ADMIN],
    response_model=ClinicianOut,
    responses={
        201: {"model": ClinicianOut, "description": "entry created"},
        **refusal_responses(
            "the substitute's period ends before it starts",
            "the clinician is named as their own substitute",
            NOT_IN_DIRECTORY.format(who="the substitute"),
            "an absence ends before it starts",
            "two absences start on the same day",
        ),
    },
)
async def put_clinician(
    clinician_id: ClinicianId,
    body: ClinicianIn,
    _caller: AdminCaller,
    services: Deps,
    response: Response,
) -> ClinicianOut:
    """Create or replace a directory entry (200 when replaced, 201 when created)."""
    substitute = None
    if body.substitute is not None:
        if body.substitute.valid_from > body.substitute.valid_to:
            raise refused("substitute.valid_from must not be after substitute.valid_to")
        if body.substitute.clinician_id == clinician_id:
            raise refused("a clinician cannot be their own substitute")
        if await services.directory.get(body.substitute.clinician_id) is None:
            raise refused(f"substitute {body.substitute.clinician_id} is not in the directory")
        substitute = Substitute.model_validate(body.substitute.model_dump())
    if any(a.starts_on > a.ends_on for a in body.absences):
        raise refused("an absence's from must not be after its to")
    if len({a.starts_on for a in body.absences}) != len(body.absences):
        raise refused("two absences start on the same day")
    existed = await services.directory.get(clinician_id) is not None
    entry = DirectoryEntry(
        id=clinician_id,
        name=body.name,
        practice_id=body.practice_id,
        accepts_econsultations=body.accepts_econsultations,
        reply_within_working_days=body.reply_within_working_days,
        substitute=substitute,
        specialist_in_general_practice=body.specialist_in_general_practice,
        absences=[Absence.model_validate(a.model_dump()) for a in body.absences],
    )
    await services.directory.put(entry)
    response.status_code = 200 if existed else 201
    return await _shown(services, entry)
