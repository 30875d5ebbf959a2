"""Getting production access as the guides tell it: the practice claim an operator names
(AUTH_PRACTICE_CLAIM, e.g. HelseID's organisation number), and DPoP-bound development tokens
from `python -m dev.token --dpop-key` with proofs from `python -m dev.dpop_proof`, accepted by the
API over HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.support import (
    PNG,
    RECORD_SYSTEM,
    Api,
    Party,
    api_over_http,
    assert_problem,
    bearer,
    case_with_attachment,
    eventually,
    unique,
)

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "guide-record-system.md"
HELSEID_ORGNR = "helseid://claims/client/claims/orgnr_parent"


@pytest.fixture(scope="module")
async def orgnr_api(dev_env: WorkflowEnvironment, sqlite_url: str) -> AsyncIterator[Api]:
    """The API reading a practice from HelseID's organisation-number claim."""
    settings = {"auth_practice_claim": HELSEID_ORGNR}
    async with api_over_http(dev_env.client, sqlite_url, settings=settings) as api:
        yield api


async def test_a_practice_named_under_the_configured_claim_is_accepted(orgnr_api: Api) -> None:
    token = orgnr_api.tokens.mint(
        RECORD_SYSTEM, sub="epj", practice="912159523", practice_claim=HELSEID_ORGNR
    )
    response = await orgnr_api.http.get(f"/v1/attachments/{unique('a')}", headers=bearer(token))
    # Past authentication and scope: the attachment is unknown to this practice.
    assert_problem(response, 404)


async def test_the_default_claim_is_not_read_when_another_is_configured(orgnr_api: Api) -> None:
    token = orgnr_api.tokens.mint(RECORD_SYSTEM, sub="epj", practice="912159523")
    response = await orgnr_api.http.get(f"/v1/attachments/{unique('a')}", headers=bearer(token))
    problem = assert_problem(response, 403)
    assert HELSEID_ORGNR in problem["detail"]


async def test_a_practice_id_that_is_not_one_under_the_configured_claim_is_401(
    orgnr_api: Api,
) -> None:
    token = orgnr_api.tokens.mint(
        RECORD_SYSTEM, sub="epj", practice="../other", practice_claim=HELSEID_ORGNR
    )
    response = await orgnr_api.http.get(f"/v1/attachments/{unique('a')}", headers=bearer(token))
    problem = assert_problem(response, 401)
    assert HELSEID_ORGNR in problem["detail"]


def guide_dpop_commands() -> str:
    """The shell block of the vendors' guide that calls `make run` with a DPoP-bound token."""
    section = GUIDE.read_text().split("\n### Trying DPoP against `make run`\n")[1]
    (commands,) = re.findall(r"```bash\n(.*?)```", re.split(r"\n##+ ", section)[0], re.DOTALL)
    return str(commands)


def _run_commands(
    commands: str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    # `python` is this virtualenv's, as after `make install`; the repository is importable.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        cwd=cwd,
        env={**os.environ, **env, "PATH": path, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _linked_attachment(api: Api, party: Party) -> str:
    """An attachment in a message of the party's practice, readable by its record system."""
    _, attachment = await case_with_attachment(api.http, party, "Et bilde av utslettet.")

    async def read() -> httpx.Response:
        return await api.http.get(f"/v1/attachments/{attachment}", headers=party.record_system())

    assert (await eventually(read, lambda r: r.status_code == 200, within=30)).status_code == 200
    return attachment


async def test_the_guides_dpop_commands_fetch_an_attachment_with_a_bound_token(
    api: Api, party: Party, tmp_path: Path
) -> None:
    attachment = await _linked_attachment(api, party)
    env = {
        "API": str(api.http.base_url).rstrip("/"),
        "PRACTICE": party.practice,
        "ATTACHMENT_ID": attachment,
        "AUTH_HS256_SECRET": api.tokens.signing_secret(),
        "AUTH_AUDIENCE": api.settings.auth_audience,
    }
    result = await asyncio.to_thread(_run_commands, guide_dpop_commands(), tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "attachment").read_bytes() == PNG
    # The key was made on first use, for its owner's eyes only, and said so.
    assert "made a new DPoP key" in result.stderr
    assert (tmp_path / "dpop-key.json").stat().st_mode & 0o077 == 0


async def test_a_token_made_with_a_dpop_key_is_refused_as_bearer(api: Api, tmp_path: Path) -> None:
    commands = "python -m dev.token service --sub dev-portal --dpop-key key.json"
    env = {"AUTH_HS256_SECRET": api.tokens.signing_secret()}
    result = await asyncio.to_thread(_run_commands, commands, tmp_path, env)
    assert result.returncode == 0, result.stderr
    response = await api.http.get(
        "/v1/patients/p-1/consultations", headers=bearer(result.stdout.strip())
    )
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("DPoP")
