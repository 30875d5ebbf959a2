"""Sender-constrained tokens (DPoP, RFC 9449): a token bound to a key is accepted only with a
proof, signed by that key, made for this request, and presented once.

HelseID binds the tokens it issues to record systems to a key of theirs (claim `cnf.jkt`, the
key's RFC 7638 thumbprint). A thief who copies such a token cannot use it without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
from fastapi import Request

from api.problems import Problem
from store.dpop_proofs import DPoPProofs

PROOF_ALGORITHMS = ("RS256", "PS256", "ES256")
PROOF_TYPE = "dpop+jwt"
# A proof's `iat` may be this far from the API's clock, either way.
PROOF_LEEWAY_SECONDS = 60
# A `jti` is kept while a proof carrying it could still be accepted, and as long again for
# clocks that differ between replicas.
JTI_KEPT_FOR_SECONDS = 2 * PROOF_LEEWAY_SECONDS
# What a public key's JWK must not carry (private parts of RSA and EC keys).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})
# RFC 7638 section 3.2: the members a thumbprint is computed from, per key type.
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}
DEFAULT_PORTS = {"http": 80, "https": 443}

_ALGS = " ".join(PROOF_ALGORITHMS)


def dpop_unauthorized(detail: str, error: str | None = "invalid_token") -> Problem:
    """401 with the DPoP challenge (RFC 9449 section 7.1), naming the accepted algorithms."""
    challenge = f'DPoP error="{error}", algs="{_ALGS}"' if error else f'DPoP algs="{_ALGS}"'
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


def invalid_proof(detail: str) -> Problem:
    return dpop_unauthorized(detail, "invalid_dpop_proof")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token_hash(token: str) -> str:
    """The proof's `ath`: base64url of the SHA-256 of the access token."""
    return _b64url(hashlib.sha256(token.encode()).digest())


def thumbprint(key: jwt.PyJWK) -> str:
    """The key's RFC 7638 SHA-256 thumbprint, from its canonical public JWK."""
    public: dict[str, Any] = key.Algorithm.to_jwk(key.key, as_dict=True)
    members = {name: public[name] for name in THUMBPRINT_MEMBERS[public["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")


def _percent_normalized(match: re.Match[str]) -> str:
    char = chr(int(match[1], 16))
    return char if char in _UNRESERVED else f"%{match[1].upper()}"


def _without_dot_segments(path: str) -> str:
    segments = path.split("/")
    kept: list[str] = []
    for segment in segments:
        if segment == "..":
            if len(kept) > 1:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in (".", ".."):
        kept.append("")
    return "/".join(kept)


def normalized_uri(uri: str) -> str:
    """`uri` without query and fragment, normalised as RFC 9449 section 4.3 asks before the
    comparison (RFC 3986 sections 6.2.2 and 6.2.3): scheme and host in lower case, no default
    port, percent-encoding in one form, no dot segments, an empty path as `/`."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    netloc = f"[{host}]" if ":" in host else host
    port = parts.port
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    path = _without_dot_segments(_PERCENT.sub(_percent_normalized, parts.path)) or "/"
    return f"{scheme}://{netloc}{path}"


def request_uri(request: Request) -> str:
    """This request's URI as the API received it: scheme and host as uvicorn reports them
    (behind a proxy, from X-Forwarded-Proto and the Host header it passes on), and the path
    as sent, before any decoding."""
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else request.url.path
    return normalized_uri(f"{request.url.scheme}://{request.url.netloc}{path.split('?')[0]}")


@dataclass(frozen=True)
class Proof:
    jti: str
    iat: float

    @property
    def replayable_until(self) -> datetime:
        return datetime.fromtimestamp(self.iat + JTI_KEPT_FOR_SECONDS, UTC)


def _proof_key(header: dict[str, Any]) -> jwt.PyJWK:
    """The public key in the proof's header, bound to the proof's (asymmetric) algorithm."""
    if str(header.get("typ", "")).lower() != PROOF_TYPE:
        raise invalid_proof(f"a DPoP proof has the type (typ) {PROOF_TYPE}")
    algorithm = header.get("alg")
    if algorithm not in PROOF_ALGORITHMS:
        raise invalid_proof(f"a DPoP proof is signed with one of {', '.join(PROOF_ALGORITHMS)}")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.keys() & PRIVATE_MEMBERS:
        raise invalid_proof("a DPoP proof carries its signer's public key (jwk), and only that")
    try:
        return jwt.PyJWK(jwk, algorithm)
    # A key's members are the client's to choose: values of any shape fail somewhere in the
    # key's construction, and each is a bad proof.
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as error:
        raise invalid_proof(f"the DPoP proof's key (jwk) is not usable: {error}") from error


def verified_proof(
    proof: str, *, method: str, uri: str, access_token: str, jkt: str, now: float
) -> Proof:
    """The proof's `jti` and `iat` once every check of RFC 9449 section 4.3 but the `jti`'s
    novelty has passed; otherwise 401 with the DPoP challenge."""
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError as error:
        raise invalid_proof(f"the DPoP proof is not a JWT: {error}") from error
    key = _proof_key(header)
    # As bytes: compare_digest refuses strings with non-ASCII characters.
    if not hmac.compare_digest(thumbprint(key).encode(), jkt.encode()):
        raise invalid_proof("the DPoP proof is signed by another key than the token is bound to")
    try:
        claims = jwt.decode(
            proof,
            key,
            algorithms=[key.algorithm_name],
            options={
                "require": ["jti", "htm", "htu", "iat", "ath"],
                "verify_aud": False,
                "verify_iat": False,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.PyJWTError as error:
        raise invalid_proof(f"invalid DPoP proof: {error}") from error
    iat = claims["iat"]
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise invalid_proof("the DPoP proof's iat is not a time")
    if abs(now - iat) > PROOF_LEEWAY_SECONDS:
        raise invalid_proof(f"the DPoP proof was not made within {PROOF_LEEWAY_SECONDS} s of now")
    if claims["htm"] != method:
        raise invalid_proof("the DPoP proof is for another method (htm)")
    if _proof_uri(claims["htu"]) != uri:
        raise invalid_proof("the DPoP proof is for another URL (htu)")
    if not hmac.compare_digest(
        str(claims["ath"]).encode(), access_token_hash(access_token).encode()
    ):
        raise invalid_proof("the DPoP proof is for another access token (ath)")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti:
        raise invalid_proof("the DPoP proof has no jti")
    return Proof(jti=jti, iat=float(iat))


def _proof_uri(htu: object) -> str | None:
    """The proof's `htu`, normalised; None when it is no URL (a port out of range, say)."""
    if not isinstance(htu, str):
        return None
    try:
        return normalized_uri(htu)
    except ValueError:
        return None


def bound_key(claims: dict[str, Any]) -> str | None:
    """The thumbprint the token is bound to (`cnf.jkt`), or None for an unbound token."""
    confirmation = claims.get("cnf")
    if confirmation is None:
        return None
    jkt = confirmation.get("jkt") if isinstance(confirmation, dict) else None
    if not isinstance(jkt, str) or not jkt:
        raise dpop_unauthorized("the token's confirmation (cnf) names no key thumbprint (jkt)")
    return jkt


class SenderConstraint:
    """Which tokens this API takes with which scheme: a bound token only as DPoP with its proof;
    an unbound one only as Bearer, and not at all while `require_dpop` is set."""

    def __init__(self, require_dpop: bool) -> None:
        self.require_dpop = require_dpop

    async def check(
        self, request: Request, scheme: str, token: str, claims: dict[str, Any]
    ) -> None:
        jkt = bound_key(claims)
        if scheme != "dpop":
            if jkt is not None:
                raise dpop_unauthorized(
                    "this token is bound to a key: send it as `Authorization: DPoP` with a proof"
                )
            if self.require_dpop:
                raise dpop_unauthorized("only DPoP-bound tokens are accepted, with their proof")
            return
        if jkt is None:
            raise dpop_unauthorized("a token sent as DPoP must be bound to a key (cnf.jkt)")
        headers = request.headers.getlist("dpop")
        if len(headers) != 1:
            raise invalid_proof("a DPoP request carries exactly one DPoP proof header")
        proof = verified_proof(
            headers[0],
            method=request.method,
            uri=request_uri(request),
            access_token=token,
            jkt=jkt,
            now=time.time(),
        )
        proofs: DPoPProofs = request.app.state.services.dpop_proofs
        if not await proofs.first_use(jkt, proof.jti, proof.replayable_until):
            raise invalid_proof("this DPoP proof was presented before (jti)")
