"""The default frikort register, kept by admins: settlement asks it on the day of the reply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.auth import AdminCaller
from api.openapi import ADMIN
from api.problems import (
    AUTHENTICATED,
    FRIKORT_ACROSS_YEARS,
    PERIOD_REVERSED,
    problem_responses,
    refusal_responses,
    refused,
)
from api.schemas import FrikortIn, FrikortOut
from api.services import Deps
from domain.base import Identifier
from domain.parties import frikort_period_refusal
from store.frikort import FrikortTable

router = APIRouter(prefix="/v1/patients", responses=problem_responses(*AUTHENTICATED))


@router.put(
    "/{patient_id}/frikort",
    operation_id="putFrikort",
    tags=[ADMIN],
    response_model=FrikortOut,
    responses=refusal_responses(PERIOD_REVERSED, FRIKORT_ACROSS_YEARS),
)
async def put_frikort(
    patient_id: Annotated[Identifier, Path()],
    body: FrikortIn,
    _caller: AdminCaller,
    services: Deps,
) -> FrikortOut:
    """Record a frikort valid from `valid_from` to `valid_to` (inclusive, within one calendar
    year); a repeat is harmless."""
    if refusal := frikort_period_refusal(body.valid_from, body.valid_to):
        raise refused(refusal)
    await FrikortTable(services.sessions).record(patient_id, body.valid_from, body.valid_to)
    return FrikortOut(patient_id=patient_id, valid_from=body.valid_from, valid_to=body.valid_to)
