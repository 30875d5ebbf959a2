"""Sender-constrained tokens (DPoP, RFC 9449): a token bound to a key (claim cnf.jkt) works only
with a fresh proof signed by that key for this very request, once, on any API replica."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio.testing import WorkflowEnvironment

from infra.settings import Settings
from tests.api.issuer import (
    Issuer,
    KeyPair,
    access_token_hash,
    dpop,
    issuer_settings,
    jwk_thumbprint,
    proof,
)
from tests.api.support import (
    ADMIN,
    SERVICE,
    Api,
    api_over_http,
    api_serving,
    assert_problem,
    bearer,
    clinician_body,
    unique,
    upload,
)

ALGS = 'algs="RS256 PS256 ES256"'


def url_of(api: Api, path: str) -> str:
    return f"{str(api.http.base_url).rstrip('/')}{path}"


@pytest.fixture(scope="module")
async def clinician(helseid_api: Api, issuer: Issuer) -> str:
    """A directory entry to read: GET /v1/clinicians/{id} with a DPoP-bound token."""
    clinician_id = unique("hpr")
    admin = issuer.token(issuer.published[0], ADMIN, sub="ops")
    response = await helseid_api.http.put(
        f"/v1/clinicians/{clinician_id}",
        json=clinician_body(unique("practice")),
        headers=bearer(admin),
    )
    assert response.status_code in (200, 201), response.text
    return f"/v1/clinicians/{clinician_id}"


@pytest.fixture
def record_system() -> KeyPair:
    """The caller's own DPoP key; HelseID bound its token to this key's thumbprint."""
    return KeyPair("ES256")


@pytest.fixture
def bound_token(issuer: Issuer, record_system: KeyPair) -> str:
    return issuer.token(issuer.published[0], SERVICE, jkt=record_system.thumbprint())


def assert_refused_proof(response: httpx.Response) -> dict[str, Any]:
    problem = assert_problem(response, 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP error="invalid_dpop_proof"'), challenge
    assert ALGS in challenge
    return problem


async def test_a_bound_token_with_its_proof_reads(
    helseid_api: Api, clinician: str, record_system: KeyPair, bound_token: str
) -> None:
    signed = proof(record_system, "GET", url_of(helseid_api, clinician), bound_token)
    response = await helseid_api.http.get(clinician, headers=dpop(bound_token, signed))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256"])
async def test_a_proof_signed_with_each_accepted_algorithm_is_verified(
    helseid_api: Api, issuer: Issuer, clinician: str, algorithm: str
) -> None:
    key = KeyPair(algorithm)
    token = issuer.token(issuer.published[0], SERVICE, jkt=key.thumbprint())
    signed = proof(key, "GET", url_of(helseid_api, clinician), token)
    response = await helseid_api.http.get(clinician, headers=dpop(token, signed))
    assert response.status_code == 200, response.text


async def test_a_stolen_bound_token_sent_as_bearer_is_refused(
    helseid_api: Api, clinician: str, bound_token: str
) -> None:
    response = await helseid_api.http.get(clinician, headers=bearer(bound_token))
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')


async def test_a_stolen_bound_token_with_a_proof_by_another_key_is_refused(
    helseid_api: Api, clinician: str, bound_token: str
) -> None:
    thief = KeyPair("ES256")
    signed = proof(thief, "GET", url_of(helseid_api, clinician), bound_token)
    assert (
        "another key"
        in assert_refused_proof(
            await helseid_api.http.get(clinician, headers=dpop(bound_token, signed))
        )["detail"]
    )


async def test_a_stolen_bound_token_without_a_proof_is_refused(
    helseid_api: Api, clinician: str, bound_token: str
) -> None:
    response = await helseid_api.http.get(
        clinician, headers={"Authorization": f"DPoP {bound_token}"}
    )
    assert "one DPoP proof" in assert_refused_proof(response)["detail"]


async def test_a_proof_for_another_url_is_refused(
    helseid_api: Api, clinician: str, record_system: KeyPair, bound_token: str
) -> None:
    other = url_of(helseid_api, "/v1/clinicians/someone-else")
    signed = proof(record_system, "GET", other, bound_token)
    assert (
        "(htu)"
        in assert_refused_proof(
            await helseid_api.http.get(clinician, headers=dpop(bound_token, signed))
        )["detail"]
    )


async def test_a_proof_for_another_method_is_refused(
    helseid_api: Api, clinician: str, record_system: KeyPair, bound_token: str
) -> None:
    signed = proof(record_system, "PUT", url_of(helseid_api, clinician), bound_token)
    assert (
        "(htm)"
        in assert_refused_proof(
            await helseid_api.http.get(clinician, headers=dpop(bound_token, signed))
        )["detail"]
    )


async def test_a_proof_for_another_access_token_is_refused(
    helseid_api: Api, issuer: Issuer, clinician: str, record_system: KeyPair, bound_token: str
) -> None:
    other_token = issuer.token(
        issuer.published[0], SERVICE, sub="another", jkt=record_system.thumbprint()
    )
    signed = proof(record_system, "GET", url_of(helseid_api, clinician), other_token)
    assert (
        "(ath)"
        in assert_refused_proof(
            await helseid_api.http.get(clinician, headers=dpop(bound_token, signed))
        )["detail"]
    )


async def test_the_url_is_compared_as_rfc_9449_says_without_query_case_or_default_port(
    helseid_api: Api, clinician: str, record_system: KeyPair, bound_token: str
) -> None:
    base = str(helseid_api.http.base_url).rstrip("/").replace("http://", "HTTP://")
    signed = proof(record_system, "GET", f"{base}/v1/./{clinician[4:]}#part", bound_token)
    response = await helseid_api.http.get(f"{clinician}?seen=1", headers=dpop(bound_token, signed))
    assert response.status_code == 200, response.text


async def test_behind_a_proxy_the_proof_names_the_url_the_client_called(
    helseid_api: Api, clinician: str, record_system: KeyPair, bound_token: str
) -> None:
    """The proxy terminates TLS, passes the Host header on and sets X-Forwarded-Proto; the API
    (which believes the proxy, FORWARDED_ALLOW_IPS) sees the URL the client called."""
    called = f"https://api.econsult.example{clinician}"
    signed = proof(record_system, "GET", called, bound_token)
    forwarded = {"Host": "api.econsult.example", "X-Forwarded-Proto": "https"}
    response = await helseid_api.http.get(
        clinician, headers={**dpop(bound_token, signed), **forwarded}
    )
    assert response.status_code == 200, response.text


async def test_a_replayed_proof_is_refused(
    helseid_api: Api, clinician: str, record_system: KeyPair, bound_token: str
) -> None:
    headers = dpop(
        bound_token, proof(record_system, "GET", url_of(helseid_api, clinician), bound_token)
    )
    assert (await helseid_api.http.get(clinician, headers=headers)).status_code == 200
    problem = assert_refused_proof(await helseid_api.http.get(clinician, headers=headers))
    assert "jti" in problem["detail"]


async def test_a_proof_replayed_to_another_api_replica_is_refused(
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    issuer: Issuer,
    helseid_api: Api,
    clinician: str,
    record_system: KeyPair,
    bound_token: str,
) -> None:
    async with api_over_http(
        dev_env.client, postgres_url, settings=issuer_settings(issuer)
    ) as replica:
        # Both replicas answer under the same name behind a load balancer; so does the URL.
        signed = proof(record_system, "GET", url_of(helseid_api, clinician), bound_token)
        first = await helseid_api.http.get(clinician, headers=dpop(bound_token, signed))
        assert first.status_code == 200, first.text
        replayed = await replica.http.get(
            clinician,
            headers={
                **dpop(bound_token, signed),
                "Host": helseid_api.http.base_url.netloc.decode(),
            },
        )
        assert "jti" in assert_refused_proof(replayed)["detail"]


@pytest.mark.parametrize("offset", [120, -120], ids=["from_the_future", "too_old"])
async def test_a_proof_made_more_than_a_minute_from_now_is_refused(
    helseid_api: Api, clinician: str, record_system: KeyPair, bound_token: str, offset: int
) -> None:
    signed = proof(
        record_system, "GET", url_of(helseid_api, clinician), bound_token, iat=time.time() + offset
    )
    assert (
        "within 60 s"
        in assert_refused_proof(
            await helseid_api.http.get(clinician, headers=dpop(bound_token, signed))
        )["detail"]
    )


async def test_a_proof_made_a_few_seconds_ahead_of_the_api_clock_is_accepted(
    helseid_api: Api, clinician: str, record_system: KeyPair, bound_token: str
) -> None:
    signed = proof(
        record_system, "GET", url_of(helseid_api, clinician), bound_token, iat=time.time() + 30
    )
    response = await helseid_api.http.get(clinician, headers=dpop(bound_token, signed))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "header",
    [{"typ": "JWT"}, {"alg": "HS256"}, {"jwk": None}],
    ids=["not_typ_dpop_jwt", "symmetric_alg", "no_jwk"],
)
async def test_a_malformed_proof_is_refused(
    helseid_api: Api,
    clinician: str,
    record_system: KeyPair,
    bound_token: str,
    header: dict[str, Any],
) -> None:
    url = url_of(helseid_api, clinician)
    if "alg" in header:
        # Signed with a shared secret, claiming the caller's public key: never accepted.
        signed = jwt_hs256_proof(record_system, url, bound_token)
    else:
        signed = proof(record_system, "GET", url, bound_token, header=header)
    assert_refused_proof(await helseid_api.http.get(clinician, headers=dpop(bound_token, signed)))


def jwt_hs256_proof(key: KeyPair, url: str, token: str) -> str:
    claims = {"jti": unique("jti"), "htm": "GET", "htu": url, "iat": int(time.time())}
    claims["ath"] = access_token_hash(token)
    headers = {"typ": "dpop+jwt", "jwk": key.public_jwk()}
    return jwt.encode(claims, "s" * 32, algorithm="HS256", headers=headers)


async def test_a_proof_carrying_a_private_key_is_refused(
    helseid_api: Api, clinician: str, bound_token: str
) -> None:
    key = KeyPair("ES256")
    assert isinstance(key.private, ec.EllipticCurvePrivateKey)
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.private, as_dict=True)  # with its private d
    signed = proof(key, "GET", url_of(helseid_api, clinician), bound_token, header={"jwk": jwk})
    assert (
        "public key (jwk)"
        in assert_refused_proof(
            await helseid_api.http.get(clinician, headers=dpop(bound_token, signed))
        )["detail"]
    )


async def test_an_unbound_token_sent_as_dpop_is_refused(
    helseid_api: Api, issuer: Issuer, clinician: str, record_system: KeyPair
) -> None:
    token = issuer.token(issuer.published[0], SERVICE)
    signed = proof(record_system, "GET", url_of(helseid_api, clinician), token)
    response = await helseid_api.http.get(clinician, headers=dpop(token, signed))
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')


async def test_with_dpop_required_a_plain_bearer_token_is_refused(
    dev_env: WorkflowEnvironment, postgres_url: str, issuer: Issuer, clinician: str
) -> None:
    settings = issuer_settings(issuer, auth_require_dpop=True)
    async with api_over_http(dev_env.client, postgres_url, settings=settings) as strict:
        plain = issuer.token(issuer.published[0], SERVICE)
        refused = await strict.http.get(clinician, headers=bearer(plain))
        assert_problem(refused, 401)
        assert refused.headers["www-authenticate"].startswith("DPoP ")
        none = await strict.http.get(clinician)
        assert_problem(none, 401)
        assert none.headers["www-authenticate"] == f"DPoP {ALGS}"

        key = KeyPair("PS256")
        token = issuer.token(issuer.published[0], SERVICE, jkt=key.thumbprint())
        signed = proof(key, "GET", url_of(strict, clinician), token)
        accepted = await strict.http.get(clinician, headers=dpop(token, signed))
        assert accepted.status_code == 200, accepted.text


async def test_an_unreachable_case_store_during_the_jti_check_is_503_with_retry_after(
    dev_env: WorkflowEnvironment, missing_database_url: str, issuer: Issuer
) -> None:
    settings = Settings(database_url=missing_database_url, **issuer_settings(issuer))
    key = KeyPair("ES256")
    token = issuer.token(issuer.published[0], SERVICE, jkt=key.thumbprint())
    async with (
        api_serving(settings, client=dev_env.client) as base_url,
        httpx.AsyncClient(base_url=base_url) as http,
    ):
        path = "/v1/clinicians/anyone"
        response = await http.get(
            path, headers=dpop(token, proof(key, "GET", base_url + path, token))
        )
    assert_problem(response, 503)
    assert response.headers["retry-after"]


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide-record-system.md"


def readme_dpop_example() -> list[str]:
    """The Python blocks of the vendors' guide's DPoP section: the proof maker, then the call."""
    section = GUIDE.read_text().split("\n## HelseID tokens and DPoP\n")[1]
    section = re.split(r"\n##+ ", section)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


async def test_the_readme_example_calls_the_api_with_dpop(helseid_api: Api, issuer: Issuer) -> None:
    make_proofs, call = readme_dpop_example()
    example: dict[str, Any] = {}
    exec(make_proofs, example)  # noqa: S102 - the guide's own code, run as a reader would
    portal = unique("portal")
    uploader = issuer.token(issuer.published[0], SERVICE, sub=portal)
    attachment = (await upload(helseid_api.http, bearer(uploader))).json()["id"]
    example.update(
        API=str(helseid_api.http.base_url).rstrip("/"),
        ACCESS_TOKEN=issuer.token(
            issuer.published[0], SERVICE, sub=portal, jkt=jwk_thumbprint(example["public_jwk"])
        ),
        attachment_id=attachment,
    )
    await asyncio.to_thread(exec, call, example)
    assert example["answer"].status_code == 200
