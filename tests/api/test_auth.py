"""Every /v1 endpoint: no or bad token 401, wrong scope 403, another clinician's case 404."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from temporalio.testing import WorkflowEnvironment

from api import issuer_keys
from api.app import create_app
from api.auth import MissingAuthSettings
from dev.harness.ports import free_port
from infra.settings import Settings
from tests.api.issuer import Issuer, KeyPair, issuer_settings
from tests.api.support import (
    ADMIN,
    CLINICIAN,
    PNG,
    SERVICE,
    Api,
    Party,
    api_over_http,
    assert_problem,
    bearer,
    clinician_body,
    create,
    seed_clinicians,
    unique,
    upload,
)

SHORT_REFETCH_SECONDS = 0.5


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    scopes: tuple[str, ...]
    # A clinician may only use it on consultations addressed to them.
    case_scoped: bool = False
    body: dict[str, Any] | None = None
    multipart: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


MESSAGE = {"body": "Hello.", "attachment_ids": []}
ENDPOINTS = [
    Endpoint("POST", "/v1/attachments", (SERVICE, CLINICIAN), multipart=True),
    Endpoint("GET", "/v1/attachments/{attachment}", (SERVICE, CLINICIAN), case_scoped=True),
    Endpoint("POST", "/v1/consultations", (SERVICE,), body={}),
    Endpoint("GET", "/v1/consultations/{case}", (SERVICE, CLINICIAN), case_scoped=True),
    Endpoint("GET", "/v1/consultations/{case}/access-log", (SERVICE, CLINICIAN), case_scoped=True),
    Endpoint("POST", "/v1/consultations/{case}/submit", (SERVICE,), body=MESSAGE),
    Endpoint("POST", "/v1/consultations/{case}/patient-replies", (SERVICE,), body=MESSAGE),
    Endpoint("POST", "/v1/consultations/{case}/withdraw", (SERVICE,)),
    Endpoint(
        "POST", "/v1/consultations/{case}/replies", (CLINICIAN,), case_scoped=True, body=MESSAGE
    ),
    Endpoint("POST", "/v1/consultations/{case}/close", (CLINICIAN,), case_scoped=True, body={}),
    Endpoint("GET", "/v1/inbox", (CLINICIAN,)),
    Endpoint("GET", "/v1/patients/{patient}/consultations", (SERVICE,)),
    Endpoint("GET", "/v1/clinicians/{clinician}", (SERVICE, CLINICIAN, ADMIN)),
    Endpoint("PUT", "/v1/clinicians/{clinician}", (ADMIN,), body={}),
    Endpoint(
        "PUT",
        "/v1/patients/{patient}/frikort",
        (ADMIN,),
        body={"valid_from": "2026-01-01", "valid_to": "2026-12-31"},
    ),
    Endpoint("PUT", "/v1/practices/{practice}", (ADMIN,), body={"name": "Legesenteret"}),
    Endpoint("GET", "/v1/practices/{practice}", (ADMIN,)),
]


@dataclass
class Target:
    """One consultation (with a bound attachment) that every endpoint is tried against."""

    party: Party
    case: str
    attachment: str

    async def call(
        self, http: httpx.AsyncClient, endpoint: Endpoint, headers: dict[str, str]
    ) -> httpx.Response:
        path = endpoint.path.format(
            case=self.case,
            attachment=self.attachment,
            patient=self.party.patient,
            clinician=self.party.clinician,
            practice=self.party.practice,
        )
        if endpoint.multipart:
            return await http.post(path, files={"file": ("x.png", PNG)}, headers=headers)
        body = endpoint.body
        if endpoint.path == "/v1/clinicians/{clinician}" and endpoint.method == "PUT":
            body = clinician_body(self.party.practice)
        return await http.request(endpoint.method, path, json=body, headers=headers)


@pytest.fixture(scope="module")
async def target(api: Api) -> AsyncIterator[Target]:
    party = api.party()
    await seed_clinicians(api.http, party)
    attachment = (await upload(api.http, party.service)).json()["id"]
    case = await create(api.http, party, message=None)
    sent = await api.http.post(
        f"/v1/consultations/{case['id']}/submit",
        json={"body": "A question.", "attachment_ids": [attachment]},
        headers=party.service,
    )
    assert sent.status_code == 200, sent.text
    yield Target(party, case["id"], attachment)


def bad_tokens(api: Api) -> dict[str, dict[str, str]]:
    mint = api.tokens.mint
    return {
        "wrong_signature": bearer(mint(SERVICE, secret=secrets.token_hex(32))),
        "expired": bearer(mint(SERVICE, expires_in=-120)),
        "alg_none": bearer(mint(SERVICE, algorithm="none")),
        "wrong_audience": bearer(mint(SERVICE, audience="someone-else")),
        "no_exp": bearer(mint(SERVICE, expires_in=None)),
        "garbage": {"Authorization": "Bearer not.a.jwt"},
        "basic_scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_every_endpoint_refuses_a_call_without_token_with_401(
    api: Api, target: Target, endpoint: Endpoint
) -> None:
    response = await target.call(api.http, endpoint, {})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "kind",
    [
        "wrong_signature",
        "expired",
        "alg_none",
        "wrong_audience",
        "no_exp",
        "garbage",
        "basic_scheme",
    ],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_every_endpoint_refuses_a_bad_token_with_401(
    api: Api, target: Target, endpoint: Endpoint, kind: str
) -> None:
    response = await target.call(api.http, endpoint, bad_tokens(api)[kind])
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_every_endpoint_refuses_a_token_without_the_needed_scope_with_403(
    api: Api, target: Target, endpoint: Endpoint
) -> None:
    others = [s for s in (SERVICE, CLINICIAN, ADMIN) if s not in endpoint.scopes]
    for scope in [*others, "openid profile"]:
        hpr = target.party.clinician if scope == CLINICIAN else None
        token = api.tokens.mint(scope, sub=target.party.portal, hpr=hpr)
        response = await target.call(api.http, endpoint, bearer(token))
        assert_problem(response, 403)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.case_scoped], ids=str)
async def test_another_clinician_gets_404_for_a_consultation_not_addressed_to_them(
    api: Api, target: Target, endpoint: Endpoint
) -> None:
    problem = assert_problem(
        await target.call(api.http, endpoint, target.party.other_clinician()), 404
    )
    assert target.party.patient not in str(problem)


async def test_a_clinician_token_without_an_hpr_number_is_refused_with_403(
    api: Api, target: Target
) -> None:
    token = api.tokens.mint(CLINICIAN, sub="someone")
    assert_problem(await api.http.get("/v1/inbox", headers=bearer(token)), 403)


async def test_another_clinicians_inbox_does_not_show_the_consultation(
    api: Api, target: Target
) -> None:
    response = await api.http.get("/v1/inbox", headers=target.party.other_clinician())
    assert response.status_code == 200
    assert response.json()["items"] == []


async def test_operations_endpoints_need_no_token(api: Api) -> None:
    assert (await api.http.get("/healthz")).status_code == 200
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert {"temporal": "ok", "database": "ok"}.items() <= ready.json()["checks"].items()
    assert (await api.http.get("/metrics")).status_code == 200
    assert "/v1/consultations" in (await api.http.get("/openapi.json")).json()["paths"]


# --- Tokens issued by HelseID (verified against its JWKS) --------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256"])
async def test_each_algorithm_helseid_signs_with_verifies(
    helseid_api: Api, issuer: Issuer, algorithm: str
) -> None:
    key = next(key for key in issuer.published if key.algorithm == algorithm)
    token = issuer.token(key, SERVICE)
    response = await helseid_api.http.get(f"/v1/clinicians/{unique('hpr')}", headers=bearer(token))
    assert_problem(response, 404)  # past authentication: the clinician is simply unknown


def _without_sub(issuer: Issuer, **claims: Any) -> str:
    """A HelseID machine token that names its client by `client_id` rather than `sub`."""
    key = issuer.published[0]
    now = int(time.time())
    payload = {"iss": issuer.issuer, "aud": "econsult", "scope": SERVICE, "iat": now}
    payload |= {"exp": now + 300, **claims}
    return jwt.encode(payload, key.private, algorithm=key.algorithm, headers={"kid": key.kid})


async def test_a_token_without_sub_is_its_client_ids_and_without_either_is_401(
    helseid_api: Api, issuer: Issuer
) -> None:
    path = f"/v1/clinicians/{unique('hpr')}"
    by_client = _without_sub(issuer, client_id="portal-client")
    nobody = _without_sub(issuer)

    answered = await helseid_api.http.get(path, headers=bearer(by_client))
    refused = await helseid_api.http.get(path, headers=bearer(nobody))

    assert_problem(answered, 404)  # past authentication: the clinician is simply unknown
    assert "names no subject" in assert_problem(refused, 401)["detail"]


def refused_with_a_jwks(issuer: Issuer, api: Api) -> dict[str, str]:
    key = issuer.published[0]
    secret = api.settings.auth_hs256_secret or "s" * 32
    now = int(time.time())
    claims = {
        "iss": issuer.issuer,
        "aud": "econsult",
        "sub": "x",
        "scope": SERVICE,
        "iat": now,
        "exp": now + 300,
    }
    return {
        # The shared secret of development is never a key while a JWKS is set.
        "hs256": jwt.encode(claims, secret, headers={"kid": key.kid}),
        "alg_none": jwt.encode(claims, "", algorithm="none"),
        "another_issuer": Issuer(issuer="https://elsewhere.example").token(key, SERVICE),
        "no_issuer": jwt.encode(
            {k: v for k, v in claims.items() if k != "iss"},
            key.private,
            algorithm=key.algorithm,
            headers={"kid": key.kid},
        ),
        "unpublished_key": issuer.token(KeyPair("RS256"), SERVICE),
        "no_kid": jwt.encode(claims, key.private, algorithm=key.algorithm),
        "key_for_another_alg": jwt.encode(
            claims, key.private, algorithm="PS256", headers={"kid": key.kid}
        ),
        "expired": issuer.token(key, SERVICE, expires_in=-120),
        "wrong_audience": issuer.token(key, SERVICE, audience="someone-else"),
    }


@pytest.mark.parametrize(
    ("kind", "because"),
    [
        ("hs256", "not one of RS256, PS256, ES256"),
        ("alg_none", "not one of RS256, PS256, ES256"),
        ("another_issuer", "issuer"),
        ("no_issuer", '"iss"'),
        ("unpublished_key", "publishes no key"),
        ("no_kid", "names no signing key (kid)"),
        ("key_for_another_alg", "is for RS256, not PS256"),
        ("expired", "expired"),
        ("wrong_audience", "Audience"),
    ],
)
async def test_a_token_helseid_did_not_issue_as_it_does_is_refused_with_401(
    helseid_api: Api, issuer: Issuer, kind: str, because: str
) -> None:
    token = refused_with_a_jwks(issuer, helseid_api)[kind]
    response = await helseid_api.http.get("/v1/clinicians/anyone", headers=bearer(token))
    assert because in assert_problem(response, 401)["detail"]
    assert response.headers["www-authenticate"].startswith('Bearer realm="econsult", error=')


async def test_a_key_removed_from_the_jwks_no_longer_verifies_while_its_successor_does(
    dev_env: WorkflowEnvironment, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The key set is fetched at most once a while: this API's while is short.
    monkeypatch.setattr(issuer_keys, "REFETCH_AT_MOST_EVERY_SECONDS", SHORT_REFETCH_SECONDS)
    old, new = KeyPair("RS256"), KeyPair("RS256")
    helseid = Issuer()
    helseid.publish(old)
    async with (
        helseid.serving(),
        api_over_http(dev_env.client, postgres_url, settings=issuer_settings(helseid)) as api,
    ):
        path = f"/v1/clinicians/{unique('hpr')}"
        before = await api.http.get(path, headers=bearer(helseid.token(old, SERVICE)))
        assert before.status_code == 404, before.text

        helseid.publish(new)  # the rotation is over: the old key is withdrawn
        await asyncio.sleep(SHORT_REFETCH_SECONDS)
        after = await api.http.get(path, headers=bearer(helseid.token(new, SERVICE)))
        assert after.status_code == 404, after.text
        withdrawn = await api.http.get(path, headers=bearer(helseid.token(old, SERVICE)))
        assert "publishes no key" in assert_problem(withdrawn, 401)["detail"]


async def test_unknown_key_ids_refetch_the_jwks_at_most_once_a_while(
    helseid_api: Api, issuer: Issuer
) -> None:
    path = "/v1/clinicians/anyone"
    await helseid_api.http.get(path, headers=bearer(issuer.token(issuer.published[0], SERVICE)))
    fetched = issuer.fetches
    for _ in range(5):
        stranger = issuer.token(KeyPair("RS256"), SERVICE)
        assert_problem(await helseid_api.http.get(path, headers=bearer(stranger)), 401)
    assert issuer.fetches - fetched <= 1


async def test_an_unreachable_jwks_is_503_with_retry_after(
    dev_env: WorkflowEnvironment, postgres_url: str
) -> None:
    helseid = Issuer()
    helseid.jwks_url = f"http://127.0.0.1:{free_port()}/jwks"  # nothing listens there
    token = helseid.token(KeyPair("RS256"), SERVICE)
    settings = issuer_settings(helseid)
    async with api_over_http(dev_env.client, postgres_url, settings=settings) as api:
        response = await api.http.get("/v1/clinicians/anyone", headers=bearer(token))
    assert_problem(response, 503)
    assert response.headers["retry-after"]


def test_an_app_with_a_jwks_url_and_no_issuer_is_refused() -> None:
    with pytest.raises(MissingAuthSettings, match="AUTH_ISSUER"):
        create_app(Settings(auth_jwks_url="https://issuer.example/jwks", auth_issuer=None))
