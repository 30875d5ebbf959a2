"""Sender-constrained tokens (DPoP, RFC 9449): a token bound to a key (claim cnf.jkt) works only
with a fresh proof signed by that key for this very request, once, on any API replica."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class BoundCaller:
    """The record system reading the directory entry with its DPoP-bound token."""

    api: Api
    issuer: Issuer
    path: str
    key: KeyPair
    token: str

    def proof(
        self,
        *,
        key: KeyPair | None = None,
        method: str = "GET",
        url: str | None = None,
        token: str | None = None,
        **options: Any,
    ) -> str:
        """A proof for this very request, but for what an argument names instead."""
        url = url or url_of(self.api, self.path)
        return proof(key or self.key, method, url, token or self.token, **options)

    async def get(self, signed: str, path: str | None = None, **headers: str) -> httpx.Response:
        return await self.api.http.get(
            path or self.path, headers={**dpop(self.token, signed), **headers}
        )

    async def refusal(self, signed: str) -> str:
        """Why the API refused the request with this proof (the 401's detail)."""
        return str(assert_refused_proof(await self.get(signed))["detail"])


@pytest.fixture
def caller(
    helseid_api: Api, issuer: Issuer, clinician: str, record_system: KeyPair, bound_token: str
) -> BoundCaller:
    return BoundCaller(helseid_api, issuer, clinician, record_system, bound_token)


def assert_refused_proof(response: httpx.Response) -> dict[str, Any]:
    problem = assert_problem(response, 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP error="invalid_dpop_proof"'), challenge
    assert ALGS in challenge
    return problem


def assert_read(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text


def assert_invalid_token(response: httpx.Response) -> None:
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')


async def test_a_bound_token_with_its_proof_reads(caller: BoundCaller) -> None:
    assert_read(await caller.get(caller.proof()))


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256"])
async def test_a_proof_signed_with_each_accepted_algorithm_is_verified(
    caller: BoundCaller, algorithm: str
) -> None:
    key = KeyPair(algorithm)
    token = caller.issuer.token(caller.issuer.published[0], SERVICE, jkt=key.thumbprint())
    signed = caller.proof(key=key, token=token)
    assert_read(await caller.api.http.get(caller.path, headers=dpop(token, signed)))


async def test_a_stolen_bound_token_sent_as_bearer_is_refused(caller: BoundCaller) -> None:
    assert_invalid_token(await caller.api.http.get(caller.path, headers=bearer(caller.token)))


async def test_a_stolen_bound_token_without_a_proof_is_refused(caller: BoundCaller) -> None:
    response = await caller.api.http.get(
        caller.path, headers={"Authorization": f"DPoP {caller.token}"}
    )
    assert "one DPoP proof" in assert_refused_proof(response)["detail"]


def another_token(caller: BoundCaller) -> str:
    """A token of another caller bound to the same key: its proofs must not serve this one."""
    issuer = caller.issuer
    return issuer.token(issuer.published[0], SERVICE, sub="another", jkt=caller.key.thumbprint())


# A proof made for another request than the one it comes with, and what the 401 says is wrong.
MISMATCHED_PROOFS: dict[str, tuple[Callable[[BoundCaller], str], str]] = {
    "stolen_token_signed_by_another_key": (
        lambda caller: caller.proof(key=KeyPair("ES256")),
        "another key",
    ),
    "for_another_url": (
        lambda caller: caller.proof(url=url_of(caller.api, "/v1/clinicians/someone-else")),
        "(htu)",
    ),
    "for_another_method": (lambda caller: caller.proof(method="PUT"), "(htm)"),
    "for_another_access_token": (
        lambda caller: caller.proof(token=another_token(caller)),
        "(ath)",
    ),
    # More than a minute from the API's clock either way.
    "from_the_future": (lambda caller: caller.proof(iat=time.time() + 120), "within 60 s"),
    "too_old": (lambda caller: caller.proof(iat=time.time() - 120), "within 60 s"),
}


@pytest.mark.parametrize(
    ("make_proof", "detail"), MISMATCHED_PROOFS.values(), ids=MISMATCHED_PROOFS.keys()
)
async def test_a_proof_made_for_another_request_is_refused(
    caller: BoundCaller, make_proof: Callable[[BoundCaller], str], detail: str
) -> None:
    assert detail in await caller.refusal(make_proof(caller))


async def test_the_url_is_compared_as_rfc_9449_says_without_query_case_or_default_port(
    caller: BoundCaller,
) -> None:
    base = str(caller.api.http.base_url).rstrip("/").replace("http://", "HTTP://")
    signed = caller.proof(url=f"{base}/v1/./{caller.path[4:]}#part")
    assert_read(await caller.get(signed, f"{caller.path}?seen=1"))


async def test_behind_a_proxy_the_proof_names_the_url_the_client_called(
    caller: BoundCaller,
) -> None:
    """The proxy terminates TLS, passes the Host header on and sets X-Forwarded-Proto; the API
    (which believes the proxy, FORWARDED_ALLOW_IPS) sees the URL the client called."""
    signed = caller.proof(url=f"https://api.econsult.example{caller.path}")
    forwarded = {"Host": "api.econsult.example", "X-Forwarded-Proto": "https"}
    assert_read(await caller.get(signed, **forwarded))


async def test_a_replayed_proof_is_refused(caller: BoundCaller) -> None:
    signed = caller.proof()
    assert_read(await caller.get(signed))
    assert "jti" in await caller.refusal(signed)


async def test_a_proof_replayed_to_another_api_replica_is_refused(
    dev_env: WorkflowEnvironment, postgres_url: str, caller: BoundCaller
) -> None:
    settings = issuer_settings(caller.issuer)
    async with api_over_http(dev_env.client, postgres_url, settings=settings) as replica:
        # Both replicas answer under the same name behind a load balancer; so does the URL.
        signed = caller.proof()
        assert_read(await caller.get(signed))
        replayed = await replica.http.get(
            caller.path,
            headers={
                **dpop(caller.token, signed),
                "Host": caller.api.http.base_url.netloc.decode(),
            },
        )
        assert "jti" in assert_refused_proof(replayed)["detail"]


async def test_a_proof_made_a_few_seconds_ahead_of_the_api_clock_is_accepted(
    caller: BoundCaller,
) -> None:
    assert_read(await caller.get(caller.proof(iat=time.time() + 30)))


@pytest.mark.parametrize(
    "header",
    [{"typ": "JWT"}, {"alg": "HS256"}, {"jwk": None}],
    ids=["not_typ_dpop_jwt", "symmetric_alg", "no_jwk"],
)
async def test_a_malformed_proof_is_refused(caller: BoundCaller, header: dict[str, Any]) -> None:
    if "alg" in header:
        # Signed with a shared secret, claiming the caller's public key: never accepted.
        signed = jwt_hs256_proof(caller.key, url_of(caller.api, caller.path), caller.token)
    else:
        signed = caller.proof(header=header)
    assert_refused_proof(await caller.get(signed))


def jwt_hs256_proof(key: KeyPair, url: str, token: str) -> str:
    claims = {"jti": unique("jti"), "htm": "GET", "htu": url, "iat": int(time.time())}
    claims["ath"] = access_token_hash(token)
    headers = {"typ": "dpop+jwt", "jwk": key.public_jwk()}
    return jwt.encode(claims, "s" * 32, algorithm="HS256", headers=headers)


async def test_a_proof_carrying_a_private_key_is_refused(caller: BoundCaller) -> None:
    key = KeyPair("ES256")
    assert isinstance(key.private, ec.EllipticCurvePrivateKey)
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.private, as_dict=True)  # with its private d
    assert "public key (jwk)" in await caller.refusal(caller.proof(key=key, header={"jwk": jwk}))


async def test_an_unbound_token_sent_as_dpop_is_refused(caller: BoundCaller) -> None:
    token = caller.issuer.token(caller.issuer.published[0], SERVICE)
    signed = caller.proof(token=token)
    assert_invalid_token(await caller.api.http.get(caller.path, headers=dpop(token, signed)))


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
        assert_read(await strict.http.get(clinician, headers=dpop(token, signed)))


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
