"""A token issuer as HelseID is to the API, and a record system's DPoP key.

Real key pairs (RSA and EC P-256, made with cryptography), the issuer's JWKS served over real
HTTP, access tokens signed with those keys, and DPoP proofs (RFC 9449) signed by the caller's
own key. Thumbprints are computed here as RFC 7638 says, not with the API's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from api.auth import HPR_CLAIM
from dev.harness.ports import serving

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class KeyPair:
    """A private key and the algorithm it signs with (RS256 and PS256: RSA; ES256: P-256)."""

    algorithm: str
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    private: PrivateKey = field(init=False)

    def __post_init__(self) -> None:
        if self.algorithm == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def public_jwk(self) -> dict[str, Any]:
        """The public key alone, as a JWK (no private members)."""
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {k: v for k, v in jwk.items() if k != "key_ops"}

    def thumbprint(self) -> str:
        return jwk_thumbprint(self.public_jwk())


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace."""
    required = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    members = ",".join(f'"{name}":"{jwk[name]}"' for name in required)
    return b64url(hashlib.sha256(f"{{{members}}}".encode()).digest())


@dataclass
class Issuer:
    """Its published key set can change while the API runs (a rotation)."""

    issuer: str = "https://helseid-sts.test.example"
    published: list[KeyPair] = field(default_factory=list)
    fetches: int = 0
    # Set while `serving`: AUTH_JWKS_URL.
    jwks_url: str = ""

    def publish(self, *keys: KeyPair) -> None:
        self.published = list(keys)

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                {**key.public_jwk(), "kid": key.kid, "alg": key.algorithm, "use": "sig"}
                for key in self.published
            ]
        }

    def token(
        self,
        key: KeyPair,
        scope: str,
        *,
        sub: str = "record-system",
        audience: str = "econsult",
        jkt: str | None = None,
        expires_in: int = 300,
        hpr: str | None = None,
        **claims: Any,
    ) -> str:
        """An access token signed with `key`, bound to the DPoP key `jkt` when given."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": sub,
            "scope": scope,
            "iat": now,
            "exp": now + expires_in,
            **claims,
        }
        if jkt is not None:
            payload["cnf"] = {"jkt": jkt}
        if hpr is not None:
            payload[HPR_CLAIM] = hpr
        return jwt.encode(payload, key.private, algorithm=key.algorithm, headers={"kid": key.kid})

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """The key set over real HTTP; yields its URL (AUTH_JWKS_URL), kept in `jwks_url`."""
        app = FastAPI()

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            self.fetches += 1
            return self.jwks()

        async with serving(app) as base_url:
            self.jwks_url = f"{base_url}/jwks"
            yield self.jwks_url


def access_token_hash(token: str) -> str:
    return b64url(hashlib.sha256(token.encode()).digest())


def proof(
    key: KeyPair,
    method: str,
    url: str,
    token: str,
    *,
    iat: float | None = None,
    jti: str | None = None,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A DPoP proof signed by `key` for one request; `claims` and `header` override."""
    payload: dict[str, Any] = {
        "jti": jti or str(uuid.uuid4()),
        "htm": method,
        "htu": url,
        # As given: a test may send a time of any shape.
        "iat": int(time.time()) if iat is None else iat,
        "ath": access_token_hash(token),
        **claims,
    }
    headers = {"typ": "dpop+jwt", "jwk": key.public_jwk(), **(header or {})}
    return jwt.encode(payload, key.private, algorithm=key.algorithm, headers=headers)


def dpop(token: str, proof_jwt: str) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": proof_jwt}


def issuer_settings(issuer: Issuer, **more: Any) -> dict[str, Any]:
    """API settings that verify tokens against this (serving) issuer."""
    return {"auth_jwks_url": issuer.jwks_url, "auth_issuer": issuer.issuer, **more}


def raw_jws(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A compact JWS written by hand: header and claims of any shape (PyJWT refuses to write
    some), signed by `sign` whatever the header names."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def hmac_signer(secret: bytes) -> Callable[[bytes], bytes]:
    """HS256 with `secret`."""
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def key_signer(key: KeyPair) -> Callable[[bytes], bytes]:
    """The signature `key` makes with its own algorithm."""
    algorithm = jwt.get_algorithm_by_name(key.algorithm)
    return lambda data: algorithm.sign(data, key.private)
