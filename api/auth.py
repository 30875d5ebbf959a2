"""Bearer JWTs: HS256 with a shared secret in development, the issuer's JWKS in production."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import Problem
from api.rate_limits import enforce_rate_limit
from infra.settings import Settings

HPR_CLAIM = "helseid://claims/hpr/hpr_number"
PRACTICE_CLAIM = "econsult:practice_id"
MAX_ACTOR_ID = 64
# RFC 7518 section 3.2: an HS256 key at least as long as the hash output.
MIN_HS256_SECRET_BYTES = 32


class MissingAuthSettings(RuntimeError):
    """Neither a JWKS URL nor a strong shared secret: no token could be trusted."""


def require_auth_settings(settings: Settings) -> None:
    """Refuse to serve with no way to verify tokens, or a guessable shared secret."""
    if settings.auth_jwks_url:
        return
    size = len(settings.auth_hs256_secret.encode()) if settings.auth_hs256_secret else 0
    if size >= MIN_HS256_SECRET_BYTES:
        return
    found = f"it has {size} bytes" if size else "it is not set"
    raise MissingAuthSettings(
        "set AUTH_JWKS_URL (the token issuer's key set) or AUTH_HS256_SECRET of at least "
        f"{MIN_HS256_SECRET_BYTES} random bytes ({found}); e.g. `openssl rand -hex 32`"
    )


SCOPE_PREFIX = "econsult:"


class Scope(StrEnum):
    """A token scope, and so whom its holder acts as (`role`, recorded in the access log).

    Not the domain's `Role` (who wrote a message or journal entry: patient, clinician,
    system): the portal backend calls for the patient, a practice or an admin writes no
    message, and a clinician is the only one in both.
    """

    SERVICE = "econsult:service"
    CLINICIAN = "econsult:clinician"
    PRACTICE = "econsult:practice"
    ADMIN = "econsult:admin"

    @property
    def role(self) -> str:
        """Whom the holder acts as: the scope's name after `econsult:`."""
        return self.value.removeprefix(SCOPE_PREFIX)


@dataclass(frozen=True)
class Caller:
    """The verified token: who calls (HPR number or service subject) and as what."""

    subject: str
    scopes: frozenset[str]
    hpr_number: str | None
    # The scope the caller acts under, the first of those a route accepts that it holds.
    scope: Scope
    # A practice administrator's practice (claim econsult:practice_id).
    practice_id: str | None = None

    @property
    def role(self) -> str:
        """Whom the caller acts as, as the access log records it."""
        return self.scope.role

    @property
    def actor_id(self) -> str:
        return (
            self.hpr_number if self.scope == Scope.CLINICIAN and self.hpr_number else self.subject
        )

    @property
    def is_service(self) -> bool:
        return self.scope == Scope.SERVICE


def unauthorized(detail: str, *, token_given: bool = True) -> Problem:
    challenge = 'Bearer realm="econsult"'
    if token_given:
        challenge += ', error="invalid_token"'
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


class TokenVerifier:
    """Verifies signature, `exp`, `aud` (and `iss` with JWKS); never accepts alg none.

    The signature is the only secret compared, and PyJWT compares HS256 MACs with
    `hmac.compare_digest` (constant time); nothing here compares a secret with `==`.
    """

    def __init__(self, settings: Settings) -> None:
        require_auth_settings(settings)
        self._audience = settings.auth_audience
        self._issuer = settings.auth_issuer
        self._secret = settings.auth_hs256_secret
        self._jwks = jwt.PyJWKClient(settings.auth_jwks_url) if settings.auth_jwks_url else None

    async def claims(self, token: str) -> dict[str, Any]:
        try:
            if self._jwks is None:
                if self._secret is None:
                    # Refused at start (require_auth_settings); fail closed all the same.
                    raise unauthorized("token verification is not configured")
                return jwt.decode(
                    token,
                    self._secret,
                    algorithms=["HS256"],
                    audience=self._audience,
                    options={"require": ["exp", "aud"]},
                )
            # PyJWKClient fetches (and caches) the key set over blocking HTTP.
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            return jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "aud", *(["iss"] if self._issuer else [])]},
            )
        except jwt.PyJWTError as error:
            raise unauthorized(f"invalid token: {error}") from error


_bearer = HTTPBearer(auto_error=False, description="JWT with econsult:* scopes")


def _caller(claims: dict[str, Any], allowed: tuple[Scope, ...]) -> Caller:
    scope_claim = claims.get("scope", "")
    scopes = frozenset(scope_claim.split() if isinstance(scope_claim, str) else scope_claim)
    granted = [scope for scope in allowed if scope in scopes]
    if not granted:
        raise Problem(403, f"this call needs one of the scopes {', '.join(allowed)}")
    # Acting for the portal outranks acting as a clinician, which outranks admin.
    scope = granted[0]
    hpr = claims.get(HPR_CLAIM)
    hpr_number = str(hpr) if isinstance(hpr, str | int) and str(hpr) else None
    if scope == Scope.CLINICIAN and hpr_number is None:
        raise Problem(403, f"a clinician token must carry the claim {HPR_CLAIM}")
    practice = claims.get(PRACTICE_CLAIM)
    practice_id = str(practice) if isinstance(practice, str | int) and str(practice) else None
    if scope == Scope.PRACTICE and (practice_id is None or len(practice_id) > MAX_ACTOR_ID):
        raise Problem(403, f"a practice token must carry the claim {PRACTICE_CLAIM}")
    subject = str(claims.get("sub") or claims.get("client_id") or "")
    if not subject and hpr_number is None:
        raise unauthorized("the token names no subject")
    if len(subject) > MAX_ACTOR_ID or len(hpr_number or "") > MAX_ACTOR_ID:
        raise unauthorized("the token subject is too long")
    return Caller(
        subject=subject or str(hpr_number),
        scopes=scopes,
        hpr_number=hpr_number,
        scope=scope,
        practice_id=practice_id,
    )


def require(*allowed: Scope) -> Callable[..., Awaitable[Caller]]:
    """Dependency: a verified caller holding one of `allowed` (in order of preference)."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise unauthorized("a bearer token is required", token_given=False)
        verifier: TokenVerifier = request.app.state.token_verifier
        caller = _caller(await verifier.claims(credentials.credentials), allowed)
        enforce_rate_limit(request, f"{caller.role}:{caller.actor_id}")
        return caller

    return dependency


ServiceCaller = Annotated[Caller, Depends(require(Scope.SERVICE))]
ClinicianCaller = Annotated[Caller, Depends(require(Scope.CLINICIAN))]
AdminCaller = Annotated[Caller, Depends(require(Scope.ADMIN))]
PracticeCaller = Annotated[Caller, Depends(require(Scope.PRACTICE, Scope.ADMIN))]
PartyCaller = Annotated[Caller, Depends(require(Scope.SERVICE, Scope.CLINICIAN))]
DirectoryReader = Annotated[Caller, Depends(require(Scope.SERVICE, Scope.CLINICIAN, Scope.ADMIN))]
