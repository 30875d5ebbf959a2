"""Attacks with tokens and DPoP proofs: claims and headers of any shape are 401 (never 500), the
issuer's key set cannot be made to be fetched often, tokens live at most an hour, and one DPoP
key cannot spend another's `jti`s.

The attacks that held before are tested where their rule is: tests/api/test_auth.py (alg none,
a shared-secret HS256 token, another issuer, audience, expiry, unknown key ids) and
tests/api/test_dpop.py (replay, a proof for another request, key or token).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Response
from hypothesis import given
from hypothesis import strategies as st

from api.auth import HPR_CLAIM, PRACTICE_CLAIM
from dev.harness.ports import serving
from infra.settings import Settings
from tests.api.issuer import (
    Issuer,
    KeyPair,
    access_token_hash,
    dpop,
    hmac_signer,
    issuer_settings,
    key_signer,
    proof,
    raw_jws,
)
from tests.api.support import SERVICE, Tokens, api_serving, assert_problem, bearer
from tests.support import property_settings

EXAMPLES = 120
READ = "/v1/clinicians/nobody"  # past authentication a 404: the clinician is unknown
ALLOWED = {401, 403, 404}
SETTINGS = property_settings(EXAMPLES)


@pytest.fixture(scope="module")
async def shared_secret(sqlite_url: str) -> AsyncIterator[tuple[str, Tokens]]:
    """The API verifying with a shared secret (development), without a worker."""
    settings = Settings(database_url=sqlite_url)
    async with api_serving(settings) as base_url:
        yield base_url, Tokens(settings)


@dataclass
class HelseId:
    """The API verifying against the issuer's key set, and a record system's DPoP key."""

    base_url: str
    issuer: Issuer
    key: KeyPair

    def bound_token(self, key: KeyPair | None = None) -> str:
        return self.issuer.token(
            self.issuer.published[0], SERVICE, jkt=(key or self.key).thumbprint()
        )


@pytest.fixture(scope="module")
async def helseid(sqlite_url: str, issuer: Issuer) -> AsyncIterator[HelseId]:
    settings = Settings(database_url=sqlite_url, **issuer_settings(issuer))
    async with api_serving(settings) as base_url:
        yield HelseId(base_url, issuer, KeyPair("ES256"))


def hs256_token(tokens: Tokens, claims: dict[str, Any]) -> str:
    """A service token signed with the API's secret, its claims replaced by `claims`."""
    now = int(time.time())
    valid = {"sub": "portal", "scope": SERVICE, "aud": "econsult", "iat": now, "exp": now + 60}
    sign = hmac_signer(tokens.signing_secret().encode())
    return raw_jws({"alg": "HS256", "typ": "JWT"}, valid | claims, sign)


def assert_unauthorized(response: httpx.Response) -> None:
    assert_problem(response, 401)
    assert "www-authenticate" in response.headers


# --- claims of the wrong shape -----------------------------------------------------------


@pytest.mark.parametrize(
    "scope",
    [7, None, True, {"econsult:service": True}, [SERVICE, 7], [[SERVICE]], 1.5],
    ids=["int", "null", "bool", "object", "array-with-int", "nested-array", "float"],
)
async def test_a_scope_that_is_neither_a_string_nor_strings_is_401(
    shared_secret: tuple[str, Tokens], scope: Any
) -> None:
    base_url, tokens = shared_secret
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get(READ, headers=bearer(hs256_token(tokens, {"scope": scope})))
    assert_unauthorized(response)
    assert "scope" in response.json()["detail"]


@pytest.mark.parametrize("scope", [SERVICE, f"openid {SERVICE}", ["openid", SERVICE]])
async def test_a_scope_as_a_string_or_an_array_of_strings_is_taken(
    shared_secret: tuple[str, Tokens], scope: str | list[str]
) -> None:
    base_url, tokens = shared_secret
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get(READ, headers=bearer(hs256_token(tokens, {"scope": scope})))
    assert_problem(response, 404)


async def test_a_token_living_longer_than_an_hour_is_401(
    shared_secret: tuple[str, Tokens],
) -> None:
    base_url, tokens = shared_secret
    async with httpx.AsyncClient(base_url=base_url) as http:
        day = await http.get(READ, headers=bearer(tokens.mint(SERVICE, expires_in=86_400)))
        hour = await http.get(READ, headers=bearer(tokens.mint(SERVICE, expires_in=3600)))
    assert_unauthorized(day)
    assert "longer than the 3600 s" in day.json()["detail"]
    assert_problem(hour, 404)


async def test_a_token_without_iat_is_401_as_its_lifetime_cannot_be_checked(
    shared_secret: tuple[str, Tokens],
) -> None:
    base_url, tokens = shared_secret
    claims = {"sub": "portal", "scope": SERVICE, "aud": "econsult", "exp": int(time.time()) + 60}
    token = jwt.encode(claims, tokens.signing_secret(), algorithm="HS256")
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get(READ, headers=bearer(token))
    assert_unauthorized(response)
    assert '"iat"' in response.json()["detail"]


# Any JSON value, including those Python's json writes but JSON has not (NaN, Infinity).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
CLAIMS: tuple[str, ...] = ("exp", "iat", "nbf", "scope", "sub", "client_id", "aud", "cnf")
CLAIMS += (HPR_CLAIM, PRACTICE_CLAIM)


def claims_of_any_shape() -> st.SearchStrategy[dict[str, Any]]:
    """A valid service token's claims with some of them replaced by values of any shape."""
    return st.dictionaries(st.sampled_from(CLAIMS), json_values, min_size=1, max_size=4)


def never_a_server_error(
    base_url: str,
    requests: st.SearchStrategy[Any],
    send: Callable[[httpx.Client, Any], httpx.Response],
) -> None:
    """Send every generated request from this thread (the API runs in the test's loop)."""

    @SETTINGS
    @given(requests)
    def check(request: Any) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            response = send(http, request)
        assert response.status_code in ALLOWED, (request, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")

    check()


async def test_no_claim_of_any_shape_makes_a_server_error(
    shared_secret: tuple[str, Tokens],
) -> None:
    base_url, tokens = shared_secret

    def send(http: httpx.Client, claims: dict[str, Any]) -> httpx.Response:
        return http.get(READ, headers=bearer(hs256_token(tokens, claims)))

    await asyncio.to_thread(never_a_server_error, base_url, claims_of_any_shape(), send)


async def test_no_issued_token_header_or_claim_of_any_shape_makes_a_server_error(
    helseid: HelseId,
) -> None:
    """Verified against the issuer's key set: `alg`, `kid` and `typ` of any shape too."""
    issuer = helseid.issuer
    key = issuer.published[0]
    headers = st.dictionaries(st.sampled_from(("alg", "kid", "typ", "crit")), json_values)
    shapes = st.tuples(headers, claims_of_any_shape() | st.just({}))

    def send(http: httpx.Client, shape: tuple[dict[str, Any], dict[str, Any]]) -> httpx.Response:
        header, claims = shape
        now = int(time.time())
        valid: dict[str, Any] = {"iss": issuer.issuer, "aud": "econsult", "sub": "portal"}
        valid |= {"scope": SERVICE, "iat": now, "exp": now + 60}
        head = {"alg": key.algorithm, "kid": key.kid, "typ": "JWT"} | header
        return http.get(READ, headers=bearer(raw_jws(head, valid | claims, key_signer(key))))

    await asyncio.to_thread(never_a_server_error, helseid.base_url, shapes, send)


# --- DPoP proofs of the wrong shape ------------------------------------------------------


def url(helseid: HelseId, path: str = READ) -> str:
    return f"{helseid.base_url}{path}"


@pytest.mark.parametrize(
    ("claims", "because"),
    [
        ({"iat": math.nan}, "iat"),
        ({"iat": math.inf}, "iat"),
        ({"iat": "now"}, "iat"),
        ({"htu": "http://127.0.0.1:99999/v1/clinicians/nobody"}, "htu"),
        ({"htu": "http://[::1/v1"}, "htu"),
        ({"htu": 7}, "htu"),
        ({"ath": "ä"}, "ath"),
        ({"jti": {"a": 1}}, "JWT ID"),
    ],
    ids=[
        "iat-nan",
        "iat-infinite",
        "iat-string",
        "port-99999",
        "bad-ipv6",
        "htu-int",
        "ath-utf8",
        "jti-object",
    ],
)
async def test_a_proof_with_a_claim_of_the_wrong_shape_is_401(
    helseid: HelseId, claims: dict[str, Any], because: str
) -> None:
    token = helseid.bound_token()
    signed = raw_proof(helseid, token, claims, {})
    async with httpx.AsyncClient(base_url=helseid.base_url) as http:
        response = await http.get(READ, headers=dpop(token, signed))
    assert_unauthorized(response)
    assert because in response.json()["detail"]


def raw_proof(helseid: HelseId, token: str, claims: dict[str, Any], header: dict[str, Any]) -> str:
    """A proof for a read by the record system, with `claims` and `header` members replaced."""
    valid = {
        "jti": str(uuid.uuid4()),
        "htm": "GET",
        "htu": url(helseid),
        "iat": int(time.time()),
        "ath": access_token_hash(token),
    }
    key = helseid.key
    head = {"typ": "dpop+jwt", "alg": key.algorithm, "jwk": key.public_jwk()}
    return raw_jws(head | header, valid | claims, key_signer(key))


PROOF_CLAIMS = ("jti", "htm", "htu", "iat", "ath")
PROOF_HEADERS = ("typ", "alg", "jwk", "kid")


def proofs_of_any_shape() -> st.SearchStrategy[tuple[dict[str, Any], dict[str, Any]]]:
    """Claims and header members of a proof, some replaced by values of any shape; the key's
    own members (`jwk` entries) too."""
    jwk_members = st.dictionaries(st.sampled_from(("kty", "crv", "x", "y", "n", "e")), json_values)
    header = st.dictionaries(st.sampled_from(PROOF_HEADERS), json_values | jwk_members, max_size=2)
    claims = st.dictionaries(st.sampled_from(PROOF_CLAIMS), json_values, max_size=3)
    return st.tuples(claims, header)


async def test_no_proof_of_any_shape_makes_a_server_error(helseid: HelseId) -> None:
    token = helseid.bound_token()

    def send(http: httpx.Client, shapes: tuple[dict[str, Any], dict[str, Any]]) -> httpx.Response:
        claims, header = shapes
        if isinstance(header.get("jwk"), dict):
            header["jwk"] = {**helseid.key.public_jwk(), **header["jwk"]}
        return http.get(READ, headers=dpop(token, raw_proof(helseid, token, claims, header)))

    await asyncio.to_thread(never_a_server_error, helseid.base_url, proofs_of_any_shape(), send)


async def test_one_key_cannot_spend_another_keys_jtis(helseid: HelseId) -> None:
    """An attacker with a key of its own presents the `jti`s it expects another client to use;
    that client's proofs are still taken."""
    attacker, victim = KeyPair("ES256"), helseid.key
    jti = str(uuid.uuid4())
    theirs, mine = helseid.bound_token(attacker), helseid.bound_token(victim)
    async with httpx.AsyncClient(base_url=helseid.base_url) as http:
        first = await http.get(
            READ, headers=dpop(theirs, proof(attacker, "GET", url(helseid), theirs, jti=jti))
        )
        second = await http.get(
            READ, headers=dpop(mine, proof(victim, "GET", url(helseid), mine, jti=jti))
        )
        replay = await http.get(
            READ, headers=dpop(mine, proof(victim, "GET", url(helseid), mine, jti=jti))
        )
    assert_problem(first, 404)
    assert_problem(second, 404)
    assert "jti" in assert_problem(replay, 401)["detail"]


# --- the issuer's key set -----------------------------------------------------------------


@dataclass
class FailingKeySet:
    """An issuer whose key set answers 503: every fetch is counted."""

    fetches: int = 0


@pytest.fixture
async def failing_issuer() -> AsyncIterator[tuple[str, FailingKeySet]]:
    counted = FailingKeySet()
    app = FastAPI()

    @app.get("/jwks")
    async def jwks() -> Response:
        counted.fetches += 1
        return Response(status_code=503)

    async with serving(app) as base_url:
        yield f"{base_url}/jwks", counted


async def test_a_kid_flood_while_the_key_set_was_never_fetched_makes_one_fetch(
    sqlite_url: str, failing_issuer: tuple[str, FailingKeySet]
) -> None:
    jwks_url, counted = failing_issuer
    helseid = Issuer()
    settings = Settings(database_url=sqlite_url, auth_jwks_url=jwks_url, auth_issuer=helseid.issuer)
    async with api_serving(settings) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        for _ in range(30):
            token = helseid.token(KeyPair("ES256"), SERVICE)
            response = await http.get(READ, headers=bearer(token))
            assert_problem(response, 503)
            assert response.headers["retry-after"]
    assert counted.fetches == 1


async def test_the_first_token_of_an_unknown_kid_fetches_the_key_set_once(
    sqlite_url: str,
) -> None:
    helseid = Issuer()
    helseid.publish(KeyPair("ES256"))
    async with helseid.serving():
        settings = Settings(database_url=sqlite_url, **issuer_settings(helseid))
        async with api_serving(settings) as base_url, httpx.AsyncClient(base_url=base_url) as http:
            for _ in range(30):
                token = helseid.token(KeyPair("ES256"), SERVICE)
                assert_unauthorized(await http.get(READ, headers=bearer(token)))
    assert helseid.fetches == 1


async def test_an_hs256_token_signed_with_the_issuers_public_key_is_401(helseid: HelseId) -> None:
    """The classic confusion: the public key (PEM), which anyone can fetch, as an HMAC secret."""
    key = next(key for key in helseid.issuer.published if key.algorithm == "RS256")
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims: dict[str, Any] = {"iss": helseid.issuer.issuer, "aud": "econsult", "sub": "x"}
    claims |= {"scope": SERVICE, "iat": now, "exp": now + 60}
    # PyJWT refuses to sign with a PEM key as HMAC secret, so the MAC is made by hand.
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    forged = raw_jws(header, claims, hmac_signer(pem))
    async with httpx.AsyncClient(base_url=helseid.base_url) as http:
        response = await http.get(READ, headers=bearer(forged))
    assert "not one of RS256, PS256, ES256" in assert_problem(response, 401)["detail"]
