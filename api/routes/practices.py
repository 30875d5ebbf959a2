"""Practices, kept by admins: each practice's own settings (its decline text, its webhook and
record system, whose secrets are named by reference and never answered)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.auth import AdminCaller
from api.openapi import ADMIN
from api.problems import (
    AUTHENTICATED,
    Problem,
    not_found,
    problem_responses,
    refusal_responses,
    refused,
)
from api.schemas import PracticeIn, PracticeOut
from api.services import Deps
from domain.base import Identifier
from infra.secrets import SecretReferenceError, SecretsDirectory, secrets_directory
from store.practices import Practice, Practices

router = APIRouter(prefix="/v1/practices", responses=problem_responses(*AUTHENTICATED))

PracticeId = Annotated[Identifier, Path(description="the practice's id, as clinicians carry it")]


def _shown(practice: Practice) -> PracticeOut:
    return PracticeOut.model_validate(practice.model_dump())


def _unresolved(field: str, error: SecretReferenceError) -> Problem:
    return refused(
        f"{field}: the secret reference {error.reference!r} does not resolve: {error.reason}"
    )


def check_secret_refs(body: PracticeIn, secrets: SecretsDirectory | None) -> None:
    """Every reference the body names resolves now, so a delivery does not find out later."""
    if body.webhook is None and body.record_system is None:
        return
    if secrets is None:
        raise refused("secrets are named by reference, and ECONSULT_SECRETS_DIR is not set")
    if body.webhook is not None:
        for reference in body.webhook.secret_refs:
            try:
                secrets.webhook_key(reference)
            except SecretReferenceError as error:
                raise _unresolved("webhook.secret_refs", error) from None
    if body.record_system is not None:
        try:
            secrets.read(body.record_system.client_secret_ref)
        except SecretReferenceError as error:
            raise _unresolved("record_system.client_secret_ref", error) from None


@router.put(
    "/{practice_id}",
    operation_id="putPractice",
    tags=[ADMIN],
    response_model=PracticeOut,
    responses=refusal_responses(
        "a secret is named while ECONSULT_SECRETS_DIR is not set",
        "a secret reference names no readable file of the right kind in it",
    ),
)
async def put_practice(
    practice_id: PracticeId, body: PracticeIn, _caller: AdminCaller, services: Deps
) -> PracticeOut:
    """Create or replace the practice's record; a field left out is cleared. Secrets are
    named by file (ECONSULT_SECRETS_DIR), checked here, and never stored or answered."""
    check_secret_refs(body, secrets_directory(services.settings.econsult_secrets_dir))
    practice = Practice.model_validate({"practice_id": practice_id, **body.model_dump()})
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
