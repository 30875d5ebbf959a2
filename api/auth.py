"""Access tokens: HS256 with a shared secret in development, the issuer's JWKS in production
(RS256, PS256, ES256); a token bound to a key (DPoP) only with its proof (api/dpop.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.requests import HTTPConnection
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.claims import REQUIRED_CLAIMS, checked_claims, token_scopes
from api.dpop import SenderConstraint, dpop_unauthorized
from api.issuer_keys import IssuerKeys, IssuerKeysUnavailable
from api.outages import retry_later
from api.problems import Problem
from api.rate_limits import enforce_rate_limit
from domain.base import is_practice_id
from infra.settings import DEFAULT_PRACTICE_CLAIM, Settings

HPR_CLAIM = "helseid://claims/hpr/hpr_number"
# The practice claim unless AUTH_PRACTICE_CLAIM names another (HelseID's organisation number).
PRACTICE_CLAIM = DEFAULT_PRACTICE_CLAIM
MAX_ACTOR_ID = 64
# RFC 7518 section 3.2: an HS256 key at least as long as the hash output.
MIN_HS256_SECRET_BYTES = 32
# What HelseID signs access tokens with; never `none`, never a shared-secret HS* with a JWKS.
ISSUER_ALGORITHMS = ("RS256", "PS256", "ES256")


class MissingAuthSettings(RuntimeError):
    """Neither a JWKS URL nor a strong shared secret: no token could be trusted."""


def require_auth_settings(settings: Settings) -> None:
    """Refuse to serve with no way to verify tokens, or a guessable shared secret."""
    if settings.auth_jwks_url:
        if not settings.auth_issuer:
            raise MissingAuthSettings(
                "set AUTH_ISSUER (the issuer the tokens must name in `iss`, e.g. "
                "https://helseid-sts.nhn.no) whenever AUTH_JWKS_URL is set"
            )
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
    RECORD_SYSTEM = "econsult:record-system"
    ADMIN = "econsult:admin"

    @property
    def role(self) -> str:
        """Whom the holder acts as: the scope's name after `econsult:`."""
        return self.value.removeprefix(SCOPE_PREFIX)


# Scopes that act for one practice, named by the practice claim (AUTH_PRACTICE_CLAIM).
PRACTICE_SCOPES = frozenset({Scope.PRACTICE, Scope.RECORD_SYSTEM})


@dataclass(frozen=True)
class Caller:
    """The verified token: who calls (HPR number or service subject) and as what."""

    subject: str
    scopes: frozenset[str]
    hpr_number: str | None
    # The scope the caller acts under, the first of those a route accepts that it holds.
    scope: Scope
    # The practice of a practice administrator or record system (claim AUTH_PRACTICE_CLAIM).
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

    @property
    def limit_key(self) -> str:
        """Whose write allowance a command of this caller spends."""
        return f"{self.role}:{self.actor_id}"


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
        self._keys = IssuerKeys(settings.auth_jwks_url) if settings.auth_jwks_url else None
        self._max_lifetime = settings.auth_max_token_lifetime
        self.practice_claim = settings.auth_practice_claim
        self.senders = SenderConstraint(settings.auth_require_dpop)

    async def claims(self, token: str, scheme: str = "bearer") -> dict[str, Any]:
        """The token's claims once verified; 401 (challenging `scheme`) when it is not valid."""
        try:
            if self._keys is None:
                if self._secret is None:
                    # Refused at start (require_auth_settings); fail closed all the same.
                    raise unauthorized("token verification is not configured")
                claims = jwt.decode(
                    token,
                    self._secret,
                    algorithms=["HS256"],
                    audience=self._audience,
                    options={"require": [*REQUIRED_CLAIMS]},
                )
            else:
                claims = await self._issued_claims(self._keys, token)
            checked_claims(claims, self._max_lifetime)
            return claims
        except IssuerKeysUnavailable as error:
            raise retry_later("the token issuer's key set is unavailable; try again") from error
        except jwt.PyJWTError as error:
            refuse = dpop_unauthorized if scheme == "dpop" else unauthorized
            raise refuse(f"invalid token: {error}") from error

    async def _issued_claims(self, keys: IssuerKeys, token: str) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in ISSUER_ALGORITHMS:
            raise jwt.InvalidAlgorithmError(
                f"the token is signed with {algorithm!r}, not one of {', '.join(ISSUER_ALGORITHMS)}"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise jwt.InvalidTokenError("the token names no signing key (kid)")
        return jwt.decode(
            token,
            await keys.key(kid, algorithm),
            algorithms=[algorithm],
            audience=self._audience,
            issuer=self._issuer,
            options={"require": [*REQUIRED_CLAIMS, "iss"], "enforce_minimum_key_length": True},
        )


class _BearerOrDPoP(HTTPBearer):
    """The token of `Authorization: Bearer` or `Authorization: DPoP` (RFC 9449)."""

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "dpop") or not token.strip():
            return None
        return HTTPAuthorizationCredentials(scheme=scheme.lower(), credentials=token.strip())


_bearer = _BearerOrDPoP(
    auto_error=False,
    scheme_name="HTTPBearer",
    description="JWT with econsult:* scopes, as Bearer or, bound to a key, as DPoP with a proof",
)


def _caller(claims: dict[str, Any], allowed: tuple[Scope, ...], practice_claim: str) -> Caller:
    scopes = token_scopes(claims)
    granted = [scope for scope in allowed if scope in scopes]
    if not granted:
        raise Problem(403, f"this call needs one of the scopes {', '.join(allowed)}")
    # Acting for the portal outranks acting as a clinician, which outranks admin.
    scope = granted[0]
    hpr = claims.get(HPR_CLAIM)
    hpr_number = str(hpr) if isinstance(hpr, str | int) and str(hpr) else None
    if scope == Scope.CLINICIAN and hpr_number is None:
        raise Problem(403, f"a clinician token must carry the claim {HPR_CLAIM}")
    practice = claims.get(practice_claim)
    practice_id = str(practice) if isinstance(practice, str | int) and str(practice) else None
    if scope in PRACTICE_SCOPES and practice_id is None:
        raise Problem(403, f"a {scope.role} token must carry the claim {practice_claim}")
    if practice_id is not None and not is_practice_id(practice_id):
        # A practice id also names the practice's folder of secrets: a claim that could name
        # anything else is malformed, not merely foreign.
        raise unauthorized(f"the claim {practice_claim} is not a practice id")
    subject = claims.get("sub") or claims.get("client_id") or ""
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


# The caller of the request being served, set once its token is verified: the access log
# names the practice a record system reads for (api/services.py).
_CURRENT_CALLER: ContextVar[Caller | None] = ContextVar("econsult_caller", default=None)


def record_system_practice() -> str | None:
    """The practice of the request's caller if it is a record system; None otherwise."""
    caller = _CURRENT_CALLER.get()
    return caller.practice_id if caller and caller.scope == Scope.RECORD_SYSTEM else None


def require(*allowed: Scope) -> Callable[..., Awaitable[Caller]]:
    """Dependency: a verified caller holding one of `allowed` (in order of preference)."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        verifier: TokenVerifier = request.app.state.token_verifier
        if credentials is None:
            if verifier.senders.require_dpop:
                raise dpop_unauthorized("a DPoP-bound token and its DPoP proof are required", None)
            raise unauthorized("a bearer token is required", token_given=False)
        scheme, token = credentials.scheme, credentials.credentials
        claims = await verifier.claims(token, scheme)
        await verifier.senders.check(request, scheme, token, claims)
        caller = _caller(claims, allowed, verifier.practice_claim)
        enforce_rate_limit(request, caller.limit_key)
        _CURRENT_CALLER.set(caller)
        return caller

    return dependency


ServiceCaller = Annotated[Caller, Depends(require(Scope.SERVICE))]
ClinicianCaller = Annotated[Caller, Depends(require(Scope.CLINICIAN))]
AdminCaller = Annotated[Caller, Depends(require(Scope.ADMIN))]
PracticeCaller = Annotated[Caller, Depends(require(Scope.PRACTICE, Scope.ADMIN))]
PartyCaller = Annotated[Caller, Depends(require(Scope.SERVICE, Scope.CLINICIAN))]
# An attachment's readers: its consultation's parties, and its practice's record system.
AttachmentReader = Annotated[
    Caller, Depends(require(Scope.SERVICE, Scope.CLINICIAN, Scope.RECORD_SYSTEM))
]
DirectoryReader = Annotated[Caller, Depends(require(Scope.SERVICE, Scope.CLINICIAN, Scope.ADMIN))]
