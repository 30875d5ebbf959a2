"""The contract around the operations: a semantic version that the changelog names, the
rate-limit fields on limited commands (before the 429 as well as on it), and deprecated
operations announced by Deprecation, Sunset and Link fields and in the document."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.contract import API_VERSION, Deprecation, deprecate
from api.rate_limits import LIMITED_METHODS, RateLimit
from tests.api.support import (
    ADMIN,
    SERVICE,
    Api,
    api_over_http,
    assert_problem,
    bearer,
    clinician_body,
    create_body,
    unique,
)

REPO = Path(__file__).resolve().parents[2]
SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")

# Three commands at once per caller, two per patient, one more every ten seconds.
CALLER_LIMIT = RateLimit(per_second=0.1, burst=3)
PATIENT_LIMIT = {"api_patient_write_burst": 2, "api_patient_write_rate_per_second": 0.1}

OLD_PATH = "/v1/old-greeting"
SINCE = datetime(2026, 12, 1, tzinfo=UTC)
SUNSET = datetime(2027, 6, 30, tzinfo=UTC)
NOTICE = "https://econsult.example/changelog#1.2.0"


def _with_a_deprecated_operation(app: FastAPI) -> None:
    @app.get(OLD_PATH, operation_id="oldGreeting")
    async def old_greeting() -> dict[str, str]:
        return {"hello": "still here"}

    deprecate(app, "GET", OLD_PATH, Deprecation(since=SINCE, notice=NOTICE, sunset=SUNSET))


@pytest.fixture(scope="module")
async def limited(dev_env: WorkflowEnvironment, sqlite_url: str) -> AsyncIterator[Api]:
    async with api_over_http(
        dev_env.client,
        sqlite_url,
        settings=PATIENT_LIMIT,
        rate_limit=CALLER_LIMIT,
        extra_routes=_with_a_deprecated_operation,
    ) as api:
        yield api


def _version(text: str) -> tuple[int, ...]:
    match = SEMVER.fullmatch(text)
    assert match, f"{text!r} is not MAJOR.MINOR.PATCH"
    return tuple(int(part) for part in match.groups())


def test_info_version_is_the_changelogs_newest() -> None:
    """The newest section is headed by its version; while it is still `Unreleased (since X)`,
    the version it will carry must come after X."""
    (top, *_) = re.findall(r"^## (.+)$", (REPO / "CHANGELOG.md").read_text(), re.MULTILINE)
    released = re.match(r"\[?(\d+\.\d+\.\d+)\]?", top)
    if released:
        assert released[1] == API_VERSION
        return
    since = re.match(r"Unreleased \(since (\d+(?:\.\d+)*)", top)
    assert since, f"the changelog's newest heading names no version: {top!r}"
    earlier = tuple(int(part) for part in since[1].split("."))
    assert _version(API_VERSION) > earlier + (0,) * (3 - len(earlier))


async def test_the_document_carries_the_semantic_version(limited: Api) -> None:
    document = (await limited.http.get("/openapi.json")).json()
    assert document["info"]["version"] == API_VERSION
    _version(document["info"]["version"])


def _fields(response: Any) -> dict[str, dict[str, int]]:
    """`RateLimit` as {policy: {r, t}} (structured-field list of items with parameters)."""
    fields: dict[str, dict[str, int]] = {}
    for item in response.headers["ratelimit"].split(", "):
        name, *params = item.split(";")
        fields[name.strip('"')] = {k: int(v) for k, v in (p.split("=") for p in params)}
    return fields


async def test_each_command_says_what_is_left_and_the_429_says_none(limited: Api) -> None:
    admin = bearer(limited.tokens.mint(ADMIN, sub=unique("ops")))
    left = []
    for _ in range(CALLER_LIMIT.burst):
        response = await limited.http.put(
            f"/v1/clinicians/{unique('hpr')}", json=clinician_body("p"), headers=admin
        )
        assert response.status_code == 201, response.text
        assert response.headers["ratelimit-policy"] == '"caller";q=3;w=30'
        left.append(_fields(response)["caller"]["r"])
    assert left == [2, 1, 0]

    refused = await limited.http.put(
        f"/v1/clinicians/{unique('hpr')}", json=clinician_body("p"), headers=admin
    )
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-policy"] == '"caller";q=3;w=30'
    caller = _fields(refused)["caller"]
    assert caller["r"] == 0 and caller["t"] >= int(refused.headers["retry-after"])


async def test_a_patients_commands_name_both_policies(limited: Api) -> None:
    party = limited.party()
    answers = [
        await limited.http.post("/v1/consultations", json=create_body(party), headers=party.service)
        for _ in range(3)
    ]
    # The clinician is unknown: refused after both buckets were taken from.
    assert [a.status_code for a in answers[:2]] == [422, 422], answers[0].text
    assert answers[0].headers["ratelimit-policy"] == '"caller";q=3;w=30, "patient";q=2;w=20'
    assert _fields(answers[0])["patient"]["r"] == 1
    assert_problem(answers[2], 429)
    # The patient's bucket refused: the caller's token was given back.
    assert _fields(answers[2]) == {"caller": {"r": 1, "t": 20}, "patient": {"r": 0, "t": 20}}


async def test_reads_are_not_limited_and_carry_no_rate_limit_fields(limited: Api) -> None:
    service = bearer(limited.tokens.mint(SERVICE, sub=unique("portal")))
    for _ in range(CALLER_LIMIT.burst + 1):
        response = await limited.http.get(
            f"/v1/patients/{unique('p')}/consultations", headers=service
        )
        assert response.status_code == 200, response.text
        assert "ratelimit" not in response.headers


async def test_the_document_declares_the_rate_limit_fields_on_limited_operations(
    limited: Api,
) -> None:
    document = (await limited.http.get("/openapi.json")).json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            limited_command = (
                method.upper() in LIMITED_METHODS
                and path.startswith("/v1/")
                and "security" in operation
            )
            success = next(r for s, r in operation["responses"].items() if s.startswith("2"))
            declared = {"RateLimit-Policy", "RateLimit"} <= success.get("headers", {}).keys()
            assert declared == limited_command, f"{method} {path}"
            if "429" in operation["responses"] and limited_command:
                assert "RateLimit" in operation["responses"]["429"]["headers"]


async def test_a_deprecated_operation_answers_with_deprecation_sunset_and_link(
    limited: Api,
) -> None:
    response = await limited.http.get(OLD_PATH)
    assert response.status_code == 200
    assert response.headers["deprecation"] == f"@{int(SINCE.timestamp())}"
    assert parsedate_to_datetime(response.headers["sunset"]) == SUNSET
    assert response.headers["sunset"].endswith(" GMT")
    assert response.headers["link"].startswith(f'<{NOTICE}>; rel="deprecation"')

    current = await limited.http.get("/healthz")
    assert not {"deprecation", "sunset"} & current.headers.keys()


async def test_a_deprecated_operation_is_marked_in_the_document(limited: Api) -> None:
    document = (await limited.http.get("/openapi.json")).json()
    operation = document["paths"][OLD_PATH]["get"]
    assert operation["deprecated"] is True
    assert {"Deprecation", "Sunset", "Link"} <= operation["responses"]["200"]["headers"].keys()
    others = [
        op for path, item in document["paths"].items() if path != OLD_PATH for op in item.values()
    ]
    assert not any(op.get("deprecated") for op in others)
