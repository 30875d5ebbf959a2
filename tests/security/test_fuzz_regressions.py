"""What the fuzzer found (tests/security/test_fuzz.py), kept as explicit cases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.support import ADMIN, SERVICE, Api, api_over_http, assert_problem, bearer

# Bytes that are not UTF-8, sent as JSON (the fuzzer's own examples).
NOT_UTF8 = b"^\x03\xff3>\xffF"


@pytest.fixture(scope="module")
async def api(dev_env: WorkflowEnvironment, sqlite_url: str) -> AsyncIterator[Api]:
    async with api_over_http(dev_env.client, sqlite_url) as stack:
        yield stack


async def test_a_json_body_that_is_not_utf8_is_a_422_problem_not_a_400(api: Api) -> None:
    # FastAPI answered 400 "There was an error parsing the body", a status the document
    # does not declare; docs/http-api.md makes a malformed request 422.
    answer = await api.http.post(
        "/v1/consultations",
        content=NOT_UTF8,
        headers={**bearer(api.tokens.mint(SERVICE)), "Content-Type": "application/json"},
    )
    problem = assert_problem(answer, 422)
    assert problem["detail"] == "the body is not valid JSON"


@pytest.mark.parametrize("direction", ["decode", "encode"])
async def test_the_codec_refuses_a_body_that_is_not_utf8_with_422_not_500(
    api: Api, direction: str
) -> None:
    # json_format.Parse raised UnicodeDecodeError, which nothing caught: a 500.
    answer = await api.http.post(
        f"/codec/{direction}",
        content=b"\xff0",
        headers={**bearer(api.tokens.mint(ADMIN)), "Content-Type": "application/json"},
    )
    assert_problem(answer, 422)
