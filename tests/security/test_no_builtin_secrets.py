"""No built-in secret: the API refuses to start unless tokens can be verified with a key of
its operator's own (a JWKS URL, or a shared secret of at least 32 bytes)."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

import dev.run
import dev.token
from api.app import create_app
from api.auth import MissingAuthSettings
from dev.harness.ports import free_port
from dev.harness.processes import ROOT
from infra.codec import EncryptionCodec, KeyConfigError
from infra.settings import Settings, get_settings
from tests.support import closed_temporal_address

# Far longer than the API needs to import and decide; only a hung process ever reaches it.
PROCESS_LIMIT_SECONDS = 120


def api_environment(tmp_path: Path, **auth: str) -> dict[str, str]:
    """The test session's environment with the given auth settings only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    env.update(
        API_HOST="127.0.0.1",
        API_PORT=str(free_port()),
        TEMPORAL_ADDRESS=closed_temporal_address(),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'econsult.db'}",
        **auth,
    )
    return env


def start_api(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PROCESS_LIMIT_SECONDS,
    )


@pytest.mark.parametrize(
    ("auth", "found"),
    [
        ({}, "it is not set"),
        ({"AUTH_HS256_SECRET": ""}, "it is not set"),
        ({"AUTH_HS256_SECRET": "x" * 31}, "it has 31 bytes"),
        ({"AUTH_JWKS_URL": "", "AUTH_HS256_SECRET": "short"}, "it has 5 bytes"),
    ],
    ids=["nothing_set", "empty_secret", "secret_of_31_bytes", "empty_jwks_and_short_secret"],
)
def test_the_api_refuses_to_start_without_a_jwks_url_or_a_32_byte_secret(
    tmp_path: Path, auth: dict[str, str], found: str
) -> None:
    refused = start_api(api_environment(tmp_path, **auth))

    assert refused.returncode != 0
    assert "AUTH_JWKS_URL" in refused.stderr
    assert "AUTH_HS256_SECRET" in refused.stderr
    assert found in refused.stderr


def test_the_api_refuses_to_start_with_a_jwks_url_and_no_issuer(tmp_path: Path) -> None:
    env = api_environment(tmp_path, AUTH_JWKS_URL="https://issuer.invalid/.well-known/jwks.json")
    refused = start_api(env)

    assert refused.returncode != 0
    [line] = refused.stderr.strip().splitlines()
    assert "AUTH_ISSUER" in line


@pytest.fixture
def running_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    env = api_environment(tmp_path, **request.param)
    process = subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{env['API_PORT']}/healthz"
    try:
        deadline = time.monotonic() + PROCESS_LIMIT_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert process.poll() is None, process.communicate()[1]
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=PROCESS_LIMIT_SECONDS)


@pytest.mark.parametrize(
    "running_api",
    [
        {"AUTH_HS256_SECRET": "x" * 32},
        {
            "AUTH_JWKS_URL": "https://issuer.invalid/.well-known/jwks.json",
            "AUTH_ISSUER": "https://issuer.invalid",
        },
    ],
    ids=["secret_of_32_bytes", "jwks_url_and_issuer"],
    indirect=True,
)
def test_the_api_starts_with_a_jwks_url_or_a_32_byte_secret(running_api: str) -> None:
    assert httpx.get(running_api, timeout=10).status_code == 200


def test_an_app_built_without_auth_settings_is_refused_too() -> None:
    with pytest.raises(MissingAuthSettings, match="AUTH_HS256_SECRET"):
        create_app(Settings(auth_hs256_secret="", auth_jwks_url=None))


@pytest.fixture
def without_secret_in_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("AUTH_HS256_SECRET", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("without_secret_in_env")
def test_make_run_keeps_a_generated_secret_that_dev_tokens_are_signed_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = tmp_path / "dev-auth-secret"
    monkeypatch.setattr(dev.run, "DEV_AUTH_SECRET_FILE", kept)
    monkeypatch.setattr(dev.token, "DEV_AUTH_SECRET_FILE", kept)

    secret = dev.run.development_auth_secret()

    assert len(secret.encode()) >= 32
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert dev.run.development_auth_secret() == secret  # kept across restarts
    token = dev.token.mint("service", "dev-portal", None)
    assert jwt.decode(token, secret, algorithms=["HS256"], audience="econsult")["sub"] == (
        "dev-portal"
    )


@pytest.mark.usefixtures("without_secret_in_env")
def test_dev_token_prefers_the_secret_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = secrets.token_hex(32)
    monkeypatch.setenv("AUTH_HS256_SECRET", secret)
    token = dev.token.mint("admin", "ops", None)
    assert jwt.decode(token, secret, algorithms=["HS256"], audience="econsult")["sub"] == "ops"


# Settings that hold a secret or a key: each must be unset (None) unless its operator sets it.
SECRET_SETTINGS = (
    "auth_hs256_secret",
    "econsult_encryption_keys",
    "webhook_portal_secrets",
    "webhook_practice_secrets",
    "fhir_client_secret",
)


@pytest.mark.parametrize("name", SECRET_SETTINGS)
def test_no_secret_setting_has_a_built_in_default(name: str) -> None:
    assert Settings.model_fields[name].default is None


def test_every_secret_looking_setting_is_in_the_list_above() -> None:
    looks_secret = {
        name
        for name in Settings.model_fields
        if any(word in name for word in ("secret", "password", "_keys", "token"))
        # Where a secret is, or how long a token lives: not secrets themselves.
        and not name.endswith(("_url", "_file", "_dir", "_lifetime"))
    }
    assert looks_secret <= set(SECRET_SETTINGS)


def test_payload_keys_that_are_not_set_are_named_when_a_codec_is_built() -> None:
    with pytest.raises(KeyConfigError, match="ECONSULT_ENCRYPTION_KEYS is not set"):
        EncryptionCodec.from_setting(
            Settings(econsult_encryption_keys=None).econsult_encryption_keys
        )
