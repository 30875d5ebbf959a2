"""DEV_CODEC_TRUSTS_LOCAL_UI: on `make run` the codec endpoint decodes for the Temporal UI on
this machine without a token, audited; it trusts nothing else, and the API will not start with
it anywhere but on loopback.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.routes.codec import LOCAL_UI, LocalUiTrustRefused
from dev.harness.ports import free_port, serving
from infra.settings import Settings
from store.database import create_engine, create_session_factory
from tests.api.support import ADMIN, Tokens, assert_problem, bearer
from tests.support import captured_logs

ROOT = Path(__file__).resolve().parents[2]
UI_PORT = 8233
LOCAL_UI_ORIGINS = [f"http://localhost:{UI_PORT}", f"http://127.0.0.1:{UI_PORT}"]
PLAIN = {
    "payloads": [
        {
            "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
            "data": base64.b64encode(b'{"body": "private"}').decode(),
        }
    ]
}
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,x-namespace",
}


async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    engine = create_engine(settings.database_url)
    try:
        app = create_app(settings, sessions=create_session_factory(engine))
        async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield http
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def trusting(sqlite_url: str) -> Settings:
    return Settings(
        database_url=sqlite_url,
        dev_codec_trusts_local_ui=True,
        temporal_ui_origin=f"http://localhost:{UI_PORT}",
    )


@pytest.fixture(scope="module")
async def dev_api(trusting: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API as `make run` starts it: on loopback, trusting the local UI."""
    async for http in serve(trusting):
        yield http


@pytest.fixture(scope="module")
async def production_api(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The same API without the development setting."""
    async for http in serve(Settings(database_url=sqlite_url)):
        yield http


async def sealed(http: httpx.AsyncClient, origin: str) -> bytes:
    answer = await http.post("/codec/encode", json=PLAIN, headers={"Origin": origin})
    assert answer.status_code == 200, answer.text
    return answer.content


@pytest.mark.parametrize("origin", LOCAL_UI_ORIGINS)
async def test_the_local_ui_decodes_without_a_token_and_is_audited(
    dev_api: httpx.AsyncClient, origin: str
) -> None:
    ciphertext = await sealed(dev_api, origin)
    with captured_logs() as lines:
        opened = await dev_api.post(
            "/codec/decode",
            content=ciphertext,
            headers={"Origin": origin, "Content-Type": "application/json", "X-Namespace": "x"},
        )
    assert opened.status_code == 200, opened.text
    assert json.loads(opened.text) == PLAIN
    assert opened.headers["access-control-allow-origin"] == origin
    audit = [json.loads(line) for line in lines.getvalue().splitlines()]
    decodes = [entry for entry in audit if entry.get("event") == "codec decode"]
    assert [(e["actor_id"], e["caller_role"]) for e in decodes] == [(LOCAL_UI, "local_ui")]


@pytest.mark.parametrize("origin", LOCAL_UI_ORIGINS)
async def test_the_browser_may_call_from_either_name_of_the_local_ui(
    dev_api: httpx.AsyncClient, production_api: httpx.AsyncClient, origin: str
) -> None:
    for http in (dev_api, production_api):
        allowed = await http.options("/codec/decode", headers={"Origin": origin, **PREFLIGHT})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize(
    "origin",
    [None, "http://localhost:9999", "http://127.0.0.1:8000", "https://evil.example", "null"],
)
async def test_other_origins_still_need_an_admin_token(
    dev_api: httpx.AsyncClient, origin: str | None
) -> None:
    headers = {"Origin": origin} if origin else {}
    assert_problem(await dev_api.post("/codec/decode", json=PLAIN, headers=headers), 401)
    assert_problem(await dev_api.post("/codec/encode", json=PLAIN, headers=headers), 401)


async def test_a_token_from_the_local_ui_is_still_checked(
    dev_api: httpx.AsyncClient, trusting: Settings
) -> None:
    origin = {"Origin": LOCAL_UI_ORIGINS[0]}
    forged = bearer(Tokens(trusting).mint(ADMIN, secret="not-the-secret-" * 3))
    assert_problem(
        await dev_api.post("/codec/decode", json=PLAIN, headers={**origin, **forged}), 401
    )
    admin = bearer(Tokens(trusting).mint(ADMIN, sub="operator"))
    with captured_logs() as lines:
        opened = await dev_api.post(
            "/codec/decode",
            content=await sealed(dev_api, LOCAL_UI_ORIGINS[0]),
            headers={**origin, **admin},
        )
    assert opened.status_code == 200
    assert '"actor_id": "operator"' in lines.getvalue()


async def test_without_the_setting_the_local_ui_needs_a_token(
    production_api: httpx.AsyncClient,
) -> None:
    for origin in LOCAL_UI_ORIGINS:
        headers = {"Origin": origin}
        assert_problem(await production_api.post("/codec/decode", json=PLAIN, headers=headers), 401)


@pytest.mark.parametrize(
    "overrides",
    [
        {"api_host": "0.0.0.0"},
        {"api_host": "10.0.0.7"},
        {"api_host": "::"},
        {"temporal_ui_origin": "https://temporal.example.org"},
    ],
)
def test_the_api_refuses_the_setting_off_loopback(overrides: dict[str, Any]) -> None:
    settings = Settings(dev_codec_trusts_local_ui=True, **overrides)
    with pytest.raises(LocalUiTrustRefused, match="DEV_CODEC_TRUSTS_LOCAL_UI"):
        create_app(settings)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_the_api_accepts_the_setting_on_loopback(host: str) -> None:
    create_app(Settings(dev_codec_trusts_local_ui=True, api_host=host))


def test_python_m_api_exits_at_start_with_the_setting_on_a_public_address() -> None:
    env = {
        **os.environ,
        "DEV_CODEC_TRUSTS_LOCAL_UI": "true",
        "API_HOST": "0.0.0.0",
        "API_PORT": str(free_port()),
    }
    started = subprocess.run(
        [sys.executable, "-m", "api"], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert started.returncode != 0
    assert b"DEV_CODEC_TRUSTS_LOCAL_UI is for `make run` only" in started.stderr
