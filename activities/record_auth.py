"""How the service proves itself to a record system.

At the token endpoint, a client-credentials grant authenticated either with a client secret as
HTTP Basic (record systems outside HelseID) or with a client assertion signed by the practice's
private key (`private_key_jwt`, RFC 7523 and HelseID's profile of it: `iss` = `sub` = the client
id, `aud` the token endpoint, `exp` at most 60 s on, a `jti` never used again, header `typ`
"JWT" as HelseID's documentation asks; the `client-authentication+jwt` type of the RFC 7523
update is not yet one HelseID names). A new assertion for every token request, so a refused
or replayed one is never sent again.

When the record system binds its tokens to a key (DPoP, RFC 9449), the service holds an
ephemeral P-256 key per record system client, sends a proof of it with the token request and
every FHIR request, and answers a server's `use_dpop_nonce` challenge once with the nonce it
gave. The key lives in memory only: a restarted worker gets a new key and a new token.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# HelseID refuses an assertion valid for more than 60 s; it is made just before it is sent.
ASSERTION_LIFETIME_SECONDS = 60
DPOP_ALGORITHM = "ES256"
DPOP_PROOF_TYPE = "dpop+jwt"
DPOP_TOKEN_TYPE = "DPoP"  # noqa: S105 (a token type's name)
USE_DPOP_NONCE = "use_dpop_nonce"


class ClientAuthentication(Protocol):
    """What a token request carries to authenticate the client."""

    def token_request(self, token_url: str) -> tuple[dict[str, str], httpx.Auth | None]:
        """Form fields to add, and the HTTP authentication to send (or None)."""
        ...


@dataclass(frozen=True)
class ClientSecretBasic:
    """The client id and a shared secret as HTTP Basic (RFC 6749 section 2.3.1)."""

    client_id: str
    secret: str = field(repr=False)

    def token_request(self, token_url: str) -> tuple[dict[str, str], httpx.Auth | None]:
        return {}, httpx.BasicAuth(self.client_id, self.secret)


@dataclass(frozen=True)
class PrivateKeyJwt:
    """A client assertion signed with the practice's private JWK (RFC 7523 section 2.2)."""

    client_id: str
    key: jwt.PyJWK = field(repr=False)

    def assertion(self, token_url: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "iat": now,
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
            "jti": uuid.uuid4().hex,
        }
        # The kid lets the server pick the registered key, and lets a rotation overlap.
        header = {"typ": "JWT", **({"kid": self.key.key_id} if self.key.key_id else {})}
        return jwt.encode(claims, self.key.key, algorithm=self.key.algorithm_name, headers=header)

    def token_request(self, token_url: str) -> tuple[dict[str, str], httpx.Auth | None]:
        form = {
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.assertion(token_url),
        }
        return form, None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def proof_uri(url: str) -> str:
    """The proof's `htu`: the request URL without query and fragment (RFC 9449 section 4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class DpopKey:
    """An ephemeral key a record system binds its tokens to, and the nonces its servers gave."""

    def __init__(self) -> None:
        self._private = ec.generate_private_key(ec.SECP256R1())
        self._public: dict[str, Any] = ECAlgorithm.to_jwk(self._private.public_key(), as_dict=True)
        # Per server (origin): the token endpoint and the FHIR server each keep their own.
        self._nonces: dict[str, str] = {}

    def proof(self, method: str, url: str, token: str | None = None) -> str:
        """A proof for one request; with a token, bound to it by `ath`."""
        claims: dict[str, Any] = {
            "htm": method,
            "htu": proof_uri(url),
            "iat": int(time.time()),
            "jti": uuid.uuid4().hex,
        }
        if token is not None:
            claims["ath"] = _b64url(hashlib.sha256(token.encode()).digest())
        if nonce := self._nonces.get(_origin(url)):
            claims["nonce"] = nonce
        header = {"typ": DPOP_PROOF_TYPE, "jwk": self._public}
        return jwt.encode(claims, self._private, algorithm=DPOP_ALGORITHM, headers=header)

    def remember_nonce(self, url: str, answer: httpx.Response) -> bool:
        """Keep the nonce a server sent (any answer may carry a new one); True if it changed."""
        nonce = answer.headers.get("dpop-nonce")
        if not nonce or self._nonces.get(_origin(url)) == nonce:
            return False
        self._nonces[_origin(url)] = nonce
        return True


def asks_for_nonce(answer: httpx.Response) -> bool:
    """The server's `use_dpop_nonce` challenge: from a token endpoint as a 400 error body
    (RFC 9449 section 8), from a resource server as a 401 WWW-Authenticate (section 9)."""
    if answer.status_code == 400:
        try:
            return bool(answer.json().get("error") == USE_DPOP_NONCE)
        except ValueError:
            return False
    challenge = answer.headers.get("www-authenticate", "")
    return answer.status_code == 401 and USE_DPOP_NONCE in challenge
