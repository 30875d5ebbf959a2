"""Every /v1 endpoint: no or bad token 401, wrong scope 403, another clinician's case 404."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.support import (
    ADMIN,
    CLINICIAN,
    PNG,
    SERVICE,
    Api,
    Party,
    assert_problem,
    bearer,
    clinician_body,
    create,
    seed_clinicians,
    upload,
)


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
