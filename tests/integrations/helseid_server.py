"""A HelseID-like token endpoint and a FHIR server that takes its tokens, written from the RFCs
(not from the service's code) so the service's client is checked by an independent reading.

- Client authentication (RFC 7523 section 3, RFC 7521 section 4.2, HelseID's profile): the
  assertion's signature with the client's registered public key, `iss` = `sub` = client id,
  `aud` = this token endpoint, `exp` at most 60 s after `iat`, every `jti` once.
- DPoP (RFC 9449): the proof's `typ`, signature with its header `jwk` (public only), `htm`,
  `htu`, `iat`, unique `jti`, the server's nonce when it asks (sections 8 and 9), `ath` at the
  resource server; the token's `cnf.jkt` is the proof key's RFC 7638 thumbprint.

The FHIR side stores Communication resources by `If-None-Exist`, one per identifier.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["RS256", "PS256", "ES256"]
MAX_ASSERTION_LIFETIME = 60
PROOF_WINDOW = 60
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


class Refused(Exception):
    def __init__(self, status: int, error: str, description: str, **headers: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.headers = (
            status,
            error,
            description,
            headers,
        )


@dataclass
class Assertion:
    header: dict[str, Any]
    claims: dict[str, Any]
    accepted: bool = False
    # Why the token endpoint refused it, as its error_description says.
    refused_because: str | None = None


@dataclass
class HelseIdServer:
    """The token endpoint at /connect/token and the FHIR server at /fhir."""

    client_id: str
    # The public JWK the client registered (what a vendor uploads to HelseID).
    client_jwk: dict[str, Any]
    dpop: bool = False
    nonce_at_token: bool = False
    nonce_at_fhir: bool = False
    # The token endpoint's clock runs this far ahead for the next request (an expired assertion).
    skew_next: float = 0.0
    # The next assertion is refused as one already used (a replay the server saw first).
    replay_next: bool = False
    # Issue a bearer token even when a DPoP proof came (a server that ignores DPoP).
    ignore_dpop: bool = False
    # Where the token endpoint and the FHIR server are served (the same app on two hosts).
    base_url: str = ""
    fhir_url: str = ""
    signing_secret: str = field(default_factory=lambda: uuid.uuid4().hex * 2)
    assertions: list[Assertion] = field(default_factory=list)
    proofs: list[dict[str, Any]] = field(default_factory=list)
    jtis_seen: set[str] = field(default_factory=set)
    proof_jtis_seen: set[str] = field(default_factory=set)
    tokens_issued: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    creates: list[dict[str, str]] = field(default_factory=list)
    nonce: str = field(default_factory=lambda: uuid.uuid4().hex)
    fhir_nonce: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/connect/token"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/connect/token")
        async def token(request: Request) -> Response:
            form = {name: str(value) for name, value in (await request.form()).items()}
            try:
                return JSONResponse(self._grant(form, request.headers))
            except Refused as refused:
                body = {"error": refused.error, "error_description": refused.description}
                return JSONResponse(body, status_code=refused.status, headers=refused.headers)

        @app.post("/fhir/Communication")
        async def create(request: Request) -> Response:
            try:
                self._authorize(request)
            except Refused as refused:
                challenge = f'{"DPoP" if self.dpop else "Bearer"} error="{refused.error}"'
                headers = {"www-authenticate": challenge, **refused.headers}
                return Response(status_code=refused.status, headers=headers)
            identifier = request.headers.get("if-none-exist", "").removeprefix("identifier=")
            self.creates.append(dict(request.headers))
            if identifier in self.resources:
                return JSONResponse(self.resources[identifier], status_code=200)
            resource = await request.json()
            resource["id"] = uuid.uuid4().hex
            self.resources[identifier] = resource
            return JSONResponse(resource, status_code=201)

        return app

    # The token endpoint.

    def _grant(self, form: dict[str, str], headers: Any) -> dict[str, Any]:
        if form.get("grant_type") != "client_credentials":
            raise Refused(400, "unsupported_grant_type", "client_credentials only")
        if "authorization" in headers:
            raise Refused(400, "invalid_request", "one client authentication method only")
        self._check_assertion(form)
        jkt = None
        if self.dpop and "dpop" in headers:
            proof_jwk = self._check_proof(
                headers["dpop"],
                "POST",
                self.token_url,
                self._nonce(self.nonce_at_token),
                status=400,
            )
            jkt = jwk_thumbprint(proof_jwk)
        elif self.dpop:
            raise Refused(400, "invalid_dpop_proof", "this client's tokens are DPoP-bound")
        if self.ignore_dpop:
            jkt = None
        now = int(time.time())
        claims: dict[str, Any] = {"client_id": self.client_id, "iat": now, "exp": now + 300}
        claims |= {"scope": form["scope"]} if "scope" in form else {}
        claims |= {"cnf": {"jkt": jkt}} if jkt else {}
        self.tokens_issued.append(claims)
        token = jwt.encode(claims, self.signing_secret, algorithm="HS256")
        token_type = "DPoP" if jkt else "Bearer"
        return {"access_token": token, "token_type": token_type, "expires_in": 300}

    def _check_assertion(self, form: dict[str, str]) -> None:
        if form.get("client_assertion_type") != ASSERTION_TYPE or "client_assertion" not in form:
            raise Refused(400, "invalid_client", "a jwt-bearer client assertion is required")
        assertion = form["client_assertion"]
        header = jwt.get_unverified_header(assertion)
        record = Assertion(header, jwt.decode(assertion, options={"verify_signature": False}))
        self.assertions.append(record)
        try:
            self._verify_assertion(assertion, header)
        except Refused as refused:
            record.refused_because = refused.description
            raise
        record.accepted = True

    def _verify_assertion(self, assertion: str, header: dict[str, Any]) -> None:
        # This server's clock, ahead by `skew_next` for one request.
        now, self.skew_next = time.time() + self.skew_next, 0.0
        if header.get("kid") != self.client_jwk.get("kid"):
            raise Refused(400, "invalid_client", "no registered key has this kid")
        try:
            claims = jwt.decode(
                assertion,
                jwt.PyJWK(self.client_jwk).key,
                algorithms=ALGORITHMS,
                audience=self.token_url,
                issuer=self.client_id,
                options={
                    "require": ["iss", "sub", "aud", "exp", "iat", "jti"],
                    # Checked below against this server's own clock.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as error:
            raise Refused(400, "invalid_client", f"assertion: {error}") from None
        if claims["exp"] <= now:
            raise Refused(400, "invalid_client", "assertion expired")
        if claims.get("nbf", claims["iat"]) > now + PROOF_WINDOW:
            raise Refused(400, "invalid_client", "assertion not yet valid")
        if claims["sub"] != self.client_id:
            raise Refused(400, "invalid_client", "sub is not the client id")
        if claims["exp"] - claims["iat"] > MAX_ASSERTION_LIFETIME:
            raise Refused(400, "invalid_client", "assertion lives longer than 60 s")
        if claims["jti"] in self.jtis_seen:
            raise Refused(400, "invalid_client", "assertion replayed (jti seen before)")
        self.jtis_seen.add(claims["jti"])
        if self.replay_next:
            self.replay_next = False
            raise Refused(400, "invalid_client", "assertion replayed (jti seen before)")

    # DPoP proofs, at both servers.

    def _nonce(self, required: bool) -> str | None:
        return self.nonce if required else None

    def _check_proof(
        self,
        proof: str,
        method: str,
        url: str,
        nonce: str | None,
        *,
        status: int,
        token: str | None = None,
    ) -> dict[str, Any]:
        header = jwt.get_unverified_header(proof)
        jwk = header.get("jwk")
        if header.get("typ") != "dpop+jwt" or header.get("alg") not in ALGORITHMS:
            raise Refused(status, "invalid_dpop_proof", "typ dpop+jwt and an asymmetric alg")
        if not isinstance(jwk, dict) or PRIVATE_MEMBERS & jwk.keys():
            raise Refused(status, "invalid_dpop_proof", "a public jwk in the header")
        try:
            claims = jwt.decode(
                proof,
                jwt.PyJWK(jwk, header["alg"]).key,
                algorithms=[header["alg"]],
                options={"require": ["htm", "htu", "iat", "jti"]},
            )
        except jwt.PyJWTError as error:
            raise Refused(status, "invalid_dpop_proof", f"proof: {error}") from None
        self.proofs.append({"header": header, "claims": claims})
        if (claims["htm"], claims["htu"]) != (method, url):
            raise Refused(status, "invalid_dpop_proof", "htm/htu are not this request")
        if abs(time.time() - claims["iat"]) > PROOF_WINDOW:
            raise Refused(status, "invalid_dpop_proof", "iat too far from now")
        if claims["jti"] in self.proof_jtis_seen:
            raise Refused(status, "invalid_dpop_proof", "proof replayed")
        self.proof_jtis_seen.add(claims["jti"])
        if token is not None and claims.get("ath") != b64url(
            hashlib.sha256(token.encode()).digest()
        ):
            raise Refused(status, "invalid_dpop_proof", "ath is not this token's hash")
        if nonce and claims.get("nonce") != nonce:
            raise Refused(status, "use_dpop_nonce", "a nonce is required", **{"DPoP-Nonce": nonce})
        return jwk

    # The FHIR server.

    def _authorize(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            claims = jwt.decode(token, self.signing_secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            raise Refused(401, "invalid_token", "not a token of ours") from None
        jkt = claims.get("cnf", {}).get("jkt")
        if jkt is None:
            if scheme != "Bearer":
                raise Refused(401, "invalid_token", "a bearer token goes as Bearer")
            return
        if scheme != "DPoP" or "dpop" not in request.headers:
            raise Refused(
                401, "invalid_token", "a DPoP-bound token needs the DPoP scheme and a proof"
            )
        url = str(request.url.replace(query="", fragment=""))
        nonce = self.fhir_nonce if self.nonce_at_fhir else None
        jwk = self._check_proof(
            request.headers["dpop"], request.method, url, nonce, status=401, token=token
        )
        if jwk_thumbprint(jwk) != jkt:
            raise Refused(
                401, "invalid_token", "the proof's key is not the one the token is bound to"
            )
