"""Lists for people: the clinician's inbox and the patient's consultations (case store)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from api.auth import Caller, ClinicianCaller, ServiceCaller
from api.cursors import UNKNOWN_CURSOR, decode_cursor, encode_cursor
from api.openapi import CLINICIAN, PORTAL
from api.problems import AUTHENTICATED, problem_responses, refusal_responses
from api.schemas import ConsultationPage, ConsultationSummaryOut
from api.services import Deps, Services
from domain.base import Identifier
from domain.models import Status
from store.access import Reader
from store.case_reads import ConsultationSummary, InboxKey, PatientListKey

router = APIRouter(prefix="/v1", responses=problem_responses(*AUTHENTICATED))

# The access log's action for a consultation named in a list.
LISTED = "list"

Limit = Annotated[int, Query(ge=1, le=100, description="page size")]
CURSOR_DESCRIPTION = (
    "Opaque: the `next_cursor` of the page before, sent back unchanged. Omit it for the first "
    "page. A value this API did not hand out is refused with 422 "
    "(urn:econsult:problem:refused)."
)
# base64url without padding, as api/cursors.py encodes it.
Cursor = Annotated[
    str | None,
    Query(min_length=1, max_length=512, pattern="^[A-Za-z0-9_-]+$", description=CURSOR_DESCRIPTION),
]


async def _record_list(
    services: Services, caller: Caller, listed: list[ConsultationSummary]
) -> None:
    """A list names consultations: who listed which is in each one's access log, before the
    list is answered."""
    reader = Reader(actor_id=caller.actor_id, role=caller.role, action=LISTED)
    await services.access_log.record_all([item.id for item in listed], reader)


def _page(
    items: list[ConsultationSummary], limit: int, key: Callable[[ConsultationSummary], BaseModel]
) -> ConsultationPage:
    """The first `limit` of `items` (read one more to know), and the cursor after the last."""
    page, more = items[:limit], len(items) > limit
    return ConsultationPage(
        items=[ConsultationSummaryOut.of(item) for item in page],
        next_cursor=encode_cursor(key(page[-1])) if more and page else None,
    )


@router.get(
    "/inbox",
    operation_id="listInbox",
    tags=[CLINICIAN],
    response_model=ConsultationPage,
    responses=refusal_responses(UNKNOWN_CURSOR),
)
async def clinician_inbox(
    caller: ClinicianCaller,
    services: Deps,
    status: Annotated[Status | None, Query()] = None,
    overdue: Annotated[bool | None, Query()] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> ConsultationPage:
    """Consultations addressed to the caller, earliest reply deadline first (none last)."""
    assert caller.hpr_number is not None
    items = await services.queries.inbox(
        caller.hpr_number,
        status=status,
        overdue=overdue,
        limit=limit + 1,
        after=decode_cursor(cursor, InboxKey),
    )
    await _record_list(services, caller, items[:limit])
    return _page(items, limit, lambda item: InboxKey(reply_due_at=item.reply_due_at, id=item.id))


@router.get(
    "/patients/{patient_id}/consultations",
    operation_id="listPatientConsultations",
    tags=[PORTAL],
    response_model=ConsultationPage,
    responses=refusal_responses(UNKNOWN_CURSOR),
)
async def patient_consultations(
    patient_id: Annotated[Identifier, Path()],
    caller: ServiceCaller,
    services: Deps,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> ConsultationPage:
    """The patient's consultations, newest first."""
    items = await services.queries.of_patient(
        patient_id, limit=limit + 1, after=decode_cursor(cursor, PatientListKey)
    )
    await _record_list(services, caller, items[:limit])
    return _page(items, limit, lambda item: PatientListKey(created_at=item.created_at, id=item.id))
