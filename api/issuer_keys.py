"""The token issuer's signing keys (its JWKS), fetched and cached by this API process.

The issuer rotates its keys: a new key is published before tokens are signed with it, and an
old one is removed once no valid token can carry it. So a token naming a key id the cache
lacks triggers a refetch; and every fetch replaces the whole set, so a removed key stops
verifying at the next fetch, KEYS_FRESH_FOR_SECONDS after the last at the latest.

Whatever asks for it, the set is fetched at most once per REFETCH_AT_MOST_EVERY_SECONDS, also
while no fetch has succeeded yet: made-up key ids, or any token while the issuer is down,
cannot make the API hammer the issuer. Meanwhile the keys known so far keep verifying, and with
none known the answer is 503.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

import httpx
import jwt

log = logging.getLogger("econsult.api")

KEYS_FRESH_FOR_SECONDS = 300.0
REFETCH_AT_MOST_EVERY_SECONDS = 30.0
FETCH_TIMEOUT_SECONDS = 5.0
# Key types of the algorithms the API accepts from the issuer (RS256, PS256, ES256).
SIGNING_KEY_TYPES = ("RSA", "EC")


class IssuerKeysUnavailable(Exception):
    """The key set could not be fetched, and no key for the token is known: retry later."""


class UnknownSigningKey(jwt.PyJWTError):
    """The token names a key the issuer does not publish (or no longer does)."""


def _signing_keys(document: Any) -> dict[str, dict[str, Any]]:
    """The set's signature keys by key id; keys of other uses and types are left out."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise ValueError("the key set has no `keys` list")
    return {
        key["kid"]: key
        for key in keys
        if isinstance(key, dict)
        and isinstance(key.get("kid"), str)
        and key.get("kty") in SIGNING_KEY_TYPES
        and key.get("use", "sig") == "sig"
    }


class IssuerKeys:
    def __init__(
        self,
        url: str,
        *,
        fresh_for: float = KEYS_FRESH_FOR_SECONDS,
        refetch_every: float | None = None,
    ) -> None:
        self._url = url
        self._fresh_for = fresh_for
        # Read when built, so a test can shorten it for the API it starts.
        self._refetch_every = (
            REFETCH_AT_MOST_EVERY_SECONDS if refetch_every is None else refetch_every
        )
        self._keys: dict[str, dict[str, Any]] | None = None
        self._fetched_at = -math.inf
        self._tried_at = -math.inf
        # One fetch at a time; requests that need the keys meanwhile wait for its result.
        self._lock = asyncio.Lock()

    async def key(self, kid: str, algorithm: str) -> jwt.PyJWK:
        """The issuer's key `kid`, bound to `algorithm` (refused unless the key is for it)."""
        jwk = await self._jwk(kid)
        declared = jwk.get("alg")
        if declared is not None and declared != algorithm:
            raise UnknownSigningKey(f"the issuer's key {kid} is for {declared}, not {algorithm}")
        return jwt.PyJWK(jwk, algorithm)

    async def _jwk(self, kid: str) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            wanted = (
                self._keys is None
                or kid not in self._keys
                or now - self._fetched_at >= self._fresh_for
            )
            if wanted and now - self._tried_at >= self._refetch_every:
                await self._fetch(now)
            if self._keys is None:
                raise IssuerKeysUnavailable("the token issuer's key set is unavailable")
            jwk = self._keys.get(kid)
        if jwk is None:
            raise UnknownSigningKey(f"the issuer publishes no key {kid}")
        return jwk

    async def _fetch(self, now: float) -> None:
        self._tried_at = now
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS) as http:
                response = await http.get(self._url, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys = _signing_keys(response.json())
        except (httpx.HTTPError, ValueError) as error:
            log.warning(
                "the token issuer's key set could not be fetched", extra={"reason": str(error)}
            )
            return
        self._keys = keys
        self._fetched_at = now
