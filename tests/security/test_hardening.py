"""API hardening (issue #4): security headers, body limits, strict JSON, no stack traces in
answers, constant-time signature checks, and a per-caller rate limit on commands."""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.auth import TokenVerifier
from api.middleware import CONTENT_SECURITY_POLICY, JSON_BODY_LIMIT, SECURITY_HEADERS
from api.problems import Problem
from api.rate_limits import CallerRateLimiter, RateLimit
from infra.settings import Settings
from tests.api.support import (
    ADMIN,
    SERVICE,
    Api,
    Party,
    api_over_http,
    assert_problem,
    bearer,
    clinician_body,
    create_body,
    unique,
)

SECRET_IN_ERROR = "rash on the left arm"  # what an exception message might quote
BURST = 3


def _failing_route(app: FastAPI) -> None:
    async def fails() -> None:
        raise RuntimeError(f"could not store message {SECRET_IN_ERROR!r}")

    app.add_api_route("/v1/failing", fails, methods=["GET"])


@pytest.fixture(scope="module")
async def hardened(dev_env: WorkflowEnvironment, sqlite_url: str) -> AsyncIterator[Api]:
    """The API with a small command budget per caller and a route that fails unexpectedly."""
    async with api_over_http(
        dev_env.client,
        sqlite_url,
        rate_limit=RateLimit(per_second=0.01, burst=BURST),
        extra_routes=_failing_route,
    ) as api:
        yield api


def assert_security_headers(headers: Any, *, csp: bool = True) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    if csp:
        assert headers.get("content-security-policy") == CONTENT_SECURITY_POLICY


# --- security headers ----------------------------------------------------------------------


async def test_every_answer_carries_the_security_headers(hardened: Api) -> None:
    party = Party(hardened.tokens)
    answers = [
        await hardened.http.get("/healthz"),
        await hardened.http.get("/openapi.json"),
        await hardened.http.get("/v1/inbox"),  # 401
        await hardened.http.get(f"/v1/consultations/{unique('c')}", headers=party.service),  # 404
        await hardened.http.get("/v1/failing"),  # 500
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 404, 500]
    for answer in answers:
        assert_security_headers(answer.headers)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_the_interactive_docs_run_scripts_from_this_api_only(
    hardened: Api, path: str
) -> None:
    docs = await hardened.http.get(path)
    assert docs.status_code == 200
    assert_security_headers(docs.headers, csp=False)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in docs.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "img-src", "connect-src"):
        sources = set(policy[directive].split())
        assert "'self'" in sources, directive
        # No other origin: no host, no scheme that reaches one (data: is inline).
        assert sources <= {"'self'", "'unsafe-inline'", "data:"}, directive
    # The page names its assets on this API, none on a CDN.
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert all(url.startswith("/docs-assets/") for url in assets), assets
    for url in assets:
        asset = await hardened.http.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split(";")[0] in {
            "text/javascript",
            "application/javascript",
            "text/css",
            "image/png",
        }, url


# --- no stack traces -----------------------------------------------------------------------


async def test_an_unexpected_error_answers_a_bare_problem_without_trace_or_message(
    hardened: Api,
) -> None:
    answer = await hardened.http.get("/v1/failing")

    problem = assert_problem(answer, 500)
    assert problem["detail"] == "an unexpected error occurred; it has been logged"
    for revealing in ("Traceback", "RuntimeError", SECRET_IN_ERROR, 'File "', ".py"):
        assert revealing not in answer.text
    metrics = (await hardened.http.get("/metrics")).text
    assert 'route="/v1/failing",status="500"' in metrics


# --- request size --------------------------------------------------------------------------


def _padded(party: Party, size: int) -> dict[str, Any]:
    body = create_body(party, message="hello")
    body["patient"]["exemption"] = "x" * size
    return body


async def test_a_json_body_over_the_limit_is_refused_with_413(hardened: Api) -> None:
    party = Party(hardened.tokens)
    answer = await hardened.http.post(
        "/v1/consultations", json=_padded(party, JSON_BODY_LIMIT), headers=party.service
    )
    problem = assert_problem(answer, 413)
    assert problem["type"] == "urn:econsult:problem:too-large"


async def test_a_streamed_body_without_length_is_cut_off_at_the_limit(hardened: Api) -> None:
    party = Party(hardened.tokens)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"patient": {"exemption": "'
        for _ in range(JSON_BODY_LIMIT // 1024 + 1):
            yield b"x" * 1024
        yield b'"}}'

    answer = await hardened.http.post(
        "/v1/consultations",
        content=chunks(),
        headers={**party.service, "Content-Type": "application/json"},
    )
    assert "content-length" not in answer.request.headers
    assert_problem(answer, 413)


async def test_a_body_under_the_limit_reaches_validation(hardened: Api) -> None:
    party = Party(hardened.tokens)
    answer = await hardened.http.post(
        "/v1/consultations", json=_padded(party, JSON_BODY_LIMIT // 2), headers=party.service
    )
    # Past the size check; refused by the schema (exemption is at most 200 characters).
    assert_problem(answer, 422)


# --- strict JSON ---------------------------------------------------------------------------

# case: (method, path, caller, body kind, path to the unknown field)
CASE = "/v1/consultations/{id}"
UNKNOWN_FIELD_CASES = {
    "create_top_level": ("POST", "/v1/consultations", "service", "create", ("debug",)),
    "create_patient": ("POST", "/v1/consultations", "service", "create", ("patient", "ssn")),
    "create_message": ("POST", "/v1/consultations", "service", "create", ("message", "urgent")),
    "submit": ("POST", CASE + "/submit", "service", "message", ("priority",)),
    "patient_reply": ("POST", CASE + "/patient-replies", "service", "message", ("cc",)),
    "clinician_reply": ("POST", CASE + "/replies", "doctor", "message", ("sign_as",)),
    # Not `reason`: a close names one ("declined").
    "close": ("POST", CASE + "/close", "doctor", "close", ("priority",)),
    "clinician_entry": ("PUT", "/v1/clinicians/{id}", "admin", "clinician", ("is_admin",)),
    "substitute": ("PUT", "/v1/clinicians/{id}", "admin", "clinician", ("substitute", "note")),
}


def _body_with_unknown_field(kind: str, party: Party, path: tuple[str, ...]) -> dict[str, Any]:
    bodies: dict[str, dict[str, Any]] = {
        "create": create_body(party, message="hello"),
        "message": {"body": "hello", "attachment_ids": []},
        "close": {"message": {"body": "bye"}},
        "clinician": clinician_body(
            party.practice,
            substitute={"clinician_id": "x", "valid_from": "2026-01-01", "valid_to": "2026-01-02"},
        ),
    }
    body = bodies[kind]
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "surprise"
    return body


@pytest.mark.parametrize("case", list(UNKNOWN_FIELD_CASES))
async def test_an_unknown_field_is_refused_not_ignored(hardened: Api, case: str) -> None:
    method, template, caller, kind, path = UNKNOWN_FIELD_CASES[case]
    party = Party(hardened.tokens)
    answer = await hardened.http.request(
        method,
        template.format(id=unique("id")),
        json=_body_with_unknown_field(kind, party, path),
        headers=getattr(party, caller),
    )
    problem = assert_problem(answer, 422)
    # Located at the object that holds it; its name is not echoed (tests/security/
    # test_attacks_cors_logs.py).
    assert ["body", *path[:-1]] in [e["loc"] for e in problem["errors"]]


# --- timing-safe token checks --------------------------------------------------------------


@pytest.fixture
def compare_digest_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    calls: list[bytes] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    yield calls


async def test_token_signatures_are_compared_in_constant_time(
    hardened: Api, compare_digest_calls: list[bytes]
) -> None:
    verifier = TokenVerifier(hardened.settings)
    good = hardened.tokens.mint(SERVICE)
    forged = hardened.tokens.mint(SERVICE, secret="not-the-secret-" + "0" * 32)

    assert (await verifier.claims(good))["scope"] == SERVICE
    with pytest.raises(Problem) as refused:
        await verifier.claims(forged)

    assert refused.value.status == 401
    assert len(compare_digest_calls) == 2


def test_the_hs256_secret_is_not_compared_anywhere_else() -> None:
    # The only secret the API holds is the HS256 key; it must reach PyJWT and nothing else.
    settings = Settings()
    verifier = TokenVerifier(settings)
    assert {k: v for k, v in vars(verifier).items() if v == settings.auth_hs256_secret} == {
        "_secret": settings.auth_hs256_secret
    }


# --- rate limiting -------------------------------------------------------------------------


async def test_a_caller_over_its_command_budget_gets_429_with_retry_after(hardened: Api) -> None:
    flooding = bearer(hardened.tokens.mint(ADMIN, sub=unique("flooding-backend")))
    put: dict[str, Any] = {"json": clinician_body(unique("practice")), "headers": flooding}
    answers = [await hardened.http.put(f"/v1/clinicians/{unique('hpr')}", **put) for _ in range(4)]

    assert [a.status_code for a in answers[:BURST]] == [201] * BURST
    problem = assert_problem(answers[BURST], 429)
    assert problem["type"] == "urn:econsult:problem:rate-limited"
    assert int(answers[BURST].headers["Retry-After"]) >= 1


async def test_the_rate_limit_is_per_caller_and_spares_reads(hardened: Api) -> None:
    flooding = bearer(hardened.tokens.mint(ADMIN, sub=unique("flooding-backend")))
    for _ in range(BURST + 1):
        await hardened.http.put(
            f"/v1/clinicians/{unique('hpr')}",
            json=clinician_body(unique("practice")),
            headers=flooding,
        )
    other = bearer(hardened.tokens.mint(ADMIN, sub=unique("other-backend")))

    entry = f"/v1/clinicians/{unique('hpr')}"
    created = await hardened.http.put(entry, json=clinician_body("p"), headers=other)
    assert created.status_code == 201
    assert (await hardened.http.get(entry, headers=flooding)).status_code == 200


def test_a_callers_bucket_refills_at_the_configured_rate() -> None:
    now = [0.0]
    limiter = CallerRateLimiter(RateLimit(per_second=2, burst=2), clock=lambda: now[0])

    assert [limiter.wait_before("portal") for _ in range(2)] == [0, 0]
    assert limiter.wait_before("portal") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.wait_before("portal") == 0
    assert limiter.wait_before("hpr:1") == 0


def test_idle_callers_are_forgotten_so_memory_stays_bounded() -> None:
    now = [0.0]
    limiter = CallerRateLimiter(
        RateLimit(per_second=1, burst=1), clock=lambda: now[0], max_callers=3
    )
    for caller in ("a", "b", "c"):
        limiter.wait_before(caller)
    limiter.wait_before("d")
    assert len(limiter) == 4  # nobody idle long enough to forget yet

    now[0] += 1
    limiter.wait_before("e")
    assert len(limiter) == 1  # a refilled bucket is the same as none


async def test_decrypted_codec_answers_are_never_cached(hardened: Api) -> None:
    admin = bearer(hardened.tokens.mint(ADMIN, sub="operator"))
    plain = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "e30="}]}
    sealed = await hardened.http.post("/codec/encode", json=plain, headers=admin)
    opened = await hardened.http.post("/codec/decode", content=sealed.content, headers=admin)

    assert opened.status_code == 200, opened.text
    assert opened.json() == plain
    assert opened.headers["cache-control"] == "no-store"
