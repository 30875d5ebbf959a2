"""Practices, kept by admins: each practice's own settings (its decline text, its webhook and
record system, whose secrets are named by reference and never answered)."""

from __future__ import annotations

import socket
from typing import Annotated

from fastapi import APIRouter, Path

from api.auth import AdminCaller
from api.openapi import ADMIN
from api.outages import retry_later
from api.practice_schemas import PracticeIn, PracticeOut
from api.problems import (
    AUTHENTICATED,
    Problem,
    not_found,
    problem_responses,
    refusal_responses,
    refused,
)
from api.services import Deps
from domain.base import PracticeId as PracticeIdentifier
from infra.outbound import OutboundPolicy, OutboundRefusedError
from infra.secrets import SecretKind, SecretReferenceError, SecretsDirectory, secrets_directory
from store.practices import Practice, Practices, RecordSystemAuth

router = APIRouter(prefix="/v1/practices", responses=problem_responses(*AUTHENTICATED))

PracticeId = Annotated[
    PracticeIdentifier,
    Path(description="the practice's id, as clinicians carry it; it names its secrets' folder"),
]
# Resolver answers that mean "this name has no address", as against "ask again later".
_NO_SUCH_NAME = frozenset(
    code
    for code in (getattr(socket, name, None) for name in ("EAI_NONAME", "EAI_NODATA"))
    if code is not None
)


def _shown(practice: Practice) -> PracticeOut:
    return PracticeOut.model_validate(practice.model_dump())


def _unresolved(field: str, error: SecretReferenceError) -> Problem:
    return refused(
        f"{field}: the secret reference {error.reference!r} does not resolve: {error.reason}"
    )


def check_credentials(body: PracticeIn) -> None:
    """The reference the record system's `auth` needs, and not the other one's: a file named
    but never read would make a reader believe it is used. A rule, not the document's shape,
    so a refusal (the document cannot say "one of two, by another field's default")."""
    own = body.record_system
    if own is None:
        return
    basic = own.auth == RecordSystemAuth.CLIENT_SECRET_BASIC
    needed, unused = (
        ("client_secret_ref", "client_assertion_key_ref")
        if basic
        else ("client_assertion_key_ref", "client_secret_ref")
    )
    if getattr(own, needed) is None:
        raise refused(f"record_system: auth {own.auth.value} needs {needed}")
    if getattr(own, unused) is not None:
        raise refused(f"record_system: auth {own.auth.value} uses no {unused}")


def _references(body: PracticeIn) -> list[tuple[str, str, SecretKind]]:
    """Each secret the body names: (field, file name, what it must hold)."""
    named: list[tuple[str, str, SecretKind]] = []
    if body.webhook is not None:
        named += [
            ("webhook.secret_refs", ref, SecretKind.WEBHOOK_KEY) for ref in body.webhook.secret_refs
        ]
    own = body.record_system
    if own is not None and own.client_secret_ref is not None:
        named.append(("record_system.client_secret_ref", own.client_secret_ref, SecretKind.TEXT))
    if own is not None and own.client_assertion_key_ref is not None:
        field, ref = "record_system.client_assertion_key_ref", own.client_assertion_key_ref
        named.append((field, ref, SecretKind.SIGNING_KEY))
    return named


def check_secret_refs(practice_id: str, body: PracticeIn, secrets: SecretsDirectory | None) -> None:
    """Every reference the body names resolves now, in the practice's own folder, so a
    delivery does not find out later."""
    named = _references(body)
    if named and secrets is None:
        raise refused("secrets are named by reference, and ECONSULT_SECRETS_DIR is not set")
    for field, reference, kind in named:
        assert secrets is not None
        try:
            secrets.checked(practice_id, reference, kind)
        except SecretReferenceError as error:
            raise _unresolved(field, error) from None


def _endpoints(body: PracticeIn) -> list[tuple[str, str]]:
    """Each URL the body names, by field."""
    named = [("webhook.url", body.webhook.url)] if body.webhook else []
    if body.record_system is not None:
        named.append(("record_system.fhir_base_url", body.record_system.fhir_base_url))
        named.append(("record_system.token_url", body.record_system.token_url))
    return named


async def check_endpoints(body: PracticeIn, policy: OutboundPolicy) -> None:
    """Every URL the body names is https to public addresses (or in the region's own
    networks) as its host resolves now; each delivery checks again."""
    for field, url in _endpoints(body):
        try:
            await policy.check_url(url)
        except OutboundRefusedError as error:
            raise refused(f"{field}: {error} (a practice's endpoints must be public)") from None
        except OSError as error:
            # The URL is not repeated: it may carry a credential.
            if isinstance(error, socket.gaierror) and error.errno in _NO_SUCH_NAME:
                raise refused(f"{field}: its host does not resolve") from None
            raise retry_later(f"{field}: its host could not be resolved now") from None


@router.put(
    "/{practice_id}",
    operation_id="putPractice",
    tags=[ADMIN],
    response_model=PracticeOut,
    responses=refusal_responses(
        "the record system's auth lacks its secret reference (client_secret_ref for "
        "client_secret_basic, client_assertion_key_ref for private_key_jwt) or names the other's",
        "a secret is named while ECONSULT_SECRETS_DIR is not set",
        "a secret reference names no readable file of the right kind in it (a client "
        "assertion key: a private RSA or EC P-256 JWK for RS256, PS256 or ES256)",
        "an endpoint URL is not https to public addresses (outside OUTBOUND_ALLOWED_NETWORKS)",
        "an endpoint URL's host does not resolve",
    ),
)
async def put_practice(
    practice_id: PracticeId, body: PracticeIn, _caller: AdminCaller, services: Deps
) -> PracticeOut:
    """Create or replace the practice's record; a field left out is cleared. Secrets are
    named by file in the practice's folder (ECONSULT_SECRETS_DIR/<practice_id>/), checked
    here, and never stored or answered; endpoint URLs must reach public addresses."""
    settings = services.settings
    check_credentials(body)
    check_secret_refs(practice_id, body, secrets_directory(settings.econsult_secrets_dir))
    await check_endpoints(body, OutboundPolicy.from_setting(settings.outbound_allowed_networks))
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
