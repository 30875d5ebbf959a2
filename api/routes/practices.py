"""Practices, kept by admins: each practice's own settings (its decline text)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.auth import AdminCaller
from api.openapi import ADMIN
from api.problems import AUTHENTICATED, not_found, problem_responses
from api.schemas import PracticeIn, PracticeOut
from api.services import Deps
from domain.base import Identifier
from store.practices import Practice, Practices

router = APIRouter(prefix="/v1/practices", responses=problem_responses(*AUTHENTICATED))

PracticeId = Annotated[Identifier, Path(description="the practice's id, as clinicians carry it")]


def _shown(practice: Practice) -> PracticeOut:
    return PracticeOut.model_validate(practice.model_dump())


@router.put("/{practice_id}", operation_id="putPractice", tags=[ADMIN], response_model=PracticeOut)
async def put_practice(
    practice_id: PracticeId, body: PracticeIn, _caller: AdminCaller, services: Deps
) -> PracticeOut:
    """Create or replace the practice's record; a field left out is cleared."""
    practice = Practice(practice_id=practice_id, **body.model_dump())
    await Practices(services.sessions).put(practice)
    return _shown(practice)


@router.get(
    "/{practice_id}",
    operation_id="getPractice",
    tags=[ADMIN],
    response_model=PracticeOut,
    responses=problem_responses(404),
)
async def read_practice(
    practice_id: PracticeId, _caller: AdminCaller, services: Deps
) -> PracticeOut:
    """The practice's record as kept (404 when it has none: it gets the defaults)."""
    practice = await Practices(services.sessions).get(practice_id)
    if practice is None:
        raise not_found("practice")
    return _shown(practice)
