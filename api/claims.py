"""The shape of an access token's claims, checked once its signature and `exp`, `aud` and `iss`
have been: a claim of another shape makes the token invalid (401), never an error (500)."""

from __future__ import annotations

import math
from typing import Any

import jwt

# `iat` too: without it a token's lifetime (`exp` - `iat`) cannot be checked against
# AUTH_MAX_TOKEN_LIFETIME, and HelseID always writes it.
REQUIRED_CLAIMS = ("exp", "aud", "iat")
TIME_CLAIMS = ("exp", "iat", "nbf")
STRING_CLAIMS = ("iss", "sub", "client_id")


class MalformedClaims(jwt.InvalidTokenError):
    """A claim of a shape the API does not take, or a token that lives too long."""


def token_scopes(claims: dict[str, Any]) -> frozenset[str]:
    """The `scope` claim: a space-separated string or (as HelseID writes it) an array of
    strings; anything else is refused."""
    scope = claims.get("scope", "")
    if isinstance(scope, str):
        return frozenset(scope.split())
    if isinstance(scope, list) and all(isinstance(item, str) for item in scope):
        return frozenset(scope)
    raise MalformedClaims("the scope claim is neither a space-separated string nor strings")


def claim_time(claims: dict[str, Any], name: str) -> float:
    """A NumericDate claim (RFC 7519 section 2): a finite number of seconds, not a boolean."""
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedClaims(f"the {name} claim is not a time in seconds")
    return float(value)


def checked_claims(claims: dict[str, Any], max_lifetime: int) -> None:
    """Refuse claims of an unexpected shape, and a token that lives over `max_lifetime` s."""
    for name in TIME_CLAIMS:
        if name in claims:
            claim_time(claims, name)
    lifetime = claim_time(claims, "exp") - claim_time(claims, "iat")
    if lifetime > max_lifetime:
        raise MalformedClaims(
            f"the token lives {lifetime:.0f} s (exp - iat), longer than the {max_lifetime} s "
            "this API accepts"
        )
    for name in STRING_CLAIMS:
        if name in claims and not isinstance(claims[name], str):
            raise MalformedClaims(f"the {name} claim is not a string")
    token_scopes(claims)
