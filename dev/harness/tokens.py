"""Bearer tokens as the API verifies them in development and tests (HS256, shared secret).

The one place outside api/auth.py that writes tokens; the claim names come from there.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from api.auth import HPR_CLAIM, PRACTICE_CLAIM, Scope


def scope_of(role: str) -> Scope:
    """The scope whose holder acts as `role` (service, clinician, practice, record-system,
    admin)."""
    return next(scope for scope in Scope if scope.role == role)


def mint(
    secret: str,
    scope: Scope | str,
    subject: str,
    *,
    audience: str,
    expires_in: int | None,
    hpr: str | None = None,
    practice: str | None = None,
    algorithm: str = "HS256",
    practice_claim: str = PRACTICE_CLAIM,
    **claims: Any,
) -> str:
    """A signed token for `scope`, issued now (with `exp` unless `expires_in` is None); the
    clinician's HPR number, and the practice of a practice administrator or record system, in
    the claims the API reads (the practice under `practice_claim`, AUTH_PRACTICE_CLAIM's)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": subject,
        "scope": str(scope),
        "aud": audience,
        "iat": now,
        **claims,
    }
    if expires_in is not None:
        payload["exp"] = now + expires_in
    if hpr is not None:
        payload[HPR_CLAIM] = hpr
    if practice is not None:
        payload[practice_claim] = practice
    # An unsigned token (alg none, which the API must refuse) takes an empty key.
    return jwt.encode(payload, secret if algorithm != "none" else "", algorithm=algorithm)


def record_system(
    secret: str, practice: str, *, audience: str, expires_in: int | None, subject: str = "epj"
) -> str:
    """A practice's record system: fetches the attachments its journal entries link to."""
    return mint(
        secret,
        Scope.RECORD_SYSTEM,
        subject,
        audience=audience,
        expires_in=expires_in,
        practice=practice,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
