"""The API counters the alerts in deploy/prometheus/alerts.yml rest on move when the event
happens: codec failures by reason, requests answered 503 because a dependency was down."""

from __future__ import annotations

import base64
import secrets

import httpx
from temporalio.testing import WorkflowEnvironment

from infra.settings import Settings
from tests.api.support import ADMIN, SERVICE, Api, Tokens, api_serving, assert_problem, bearer
from tests.operations.test_metrics import value

PLAIN = {
    "payloads": [
        {
            "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
            "data": base64.b64encode(b'{"body": "private"}').decode(),
        }
    ]
}
CODEC_FAILURES = "econsult_codec_failures_total"
DEPENDENCY_ERRORS = "econsult_dependency_errors_total"


async def test_codec_failures_are_counted_by_reason_never_by_content(api: Api) -> None:
    admin = bearer(api.tokens.mint(ADMIN, sub="operator"))
    sealed = (await api.http.post("/codec/encode", json=PLAIN, headers=admin)).json()
    payload = sealed["payloads"][0]
    data = bytearray(base64.b64decode(payload["data"]))
    data[-1] ^= 1
    tampered = {"payloads": [{**payload, "data": base64.b64encode(bytes(data)).decode()}]}
    before = (await api.http.get("/metrics")).text

    refused = await api.http.post("/codec/decode", json=tampered, headers=admin)
    malformed = await api.http.post("/codec/decode", json=[], headers=admin)
    opened = await api.http.post("/codec/decode", json=sealed, headers=admin)
    after = (await api.http.get("/metrics")).text

    assert_problem(refused, 422)
    assert_problem(malformed, 422)
    assert opened.status_code == 200

    def moved(reason: str) -> float:
        labels = {"operation": "decode", "reason": reason}
        return value(after, CODEC_FAILURES, **labels) - value(before, CODEC_FAILURES, **labels)

    assert moved("undecryptable") == 1
    assert moved("malformed") == 1
    assert moved("keys_not_configured") == 0
    assert "private" not in after


async def test_keys_missing_and_an_unreachable_case_store_are_counted(
    dev_env: WorkflowEnvironment, missing_database_url: str
) -> None:
    settings = Settings(
        database_url=missing_database_url,
        auth_hs256_secret=secrets.token_urlsafe(32),
        econsult_encryption_keys=None,
    )
    tokens = Tokens(settings)
    async with (
        api_serving(settings, client=dev_env.client) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10) as http,
    ):
        before = (await http.get("/metrics")).text
        codec = await http.post(
            "/codec/decode", json=PLAIN, headers=bearer(tokens.mint(ADMIN, sub="operator"))
        )
        read = await http.get("/v1/consultations/unknown", headers=bearer(tokens.mint(SERVICE)))
        after = (await http.get("/metrics")).text

    assert_problem(codec, 503)
    assert_problem(read, 503)
    keys = {"operation": "decode", "reason": "keys_not_configured"}
    assert value(after, CODEC_FAILURES, **keys) == value(before, CODEC_FAILURES, **keys) + 1
    database = {"dependency": "database"}
    assert value(after, DEPENDENCY_ERRORS, **database) == (
        value(before, DEPENDENCY_ERRORS, **database) + 1
    )
    assert value(after, "econsult_dependency_up", **database) == 0
