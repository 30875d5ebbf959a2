"""docker-compose.yml, the production shape (docs/operations.md), checked without a Docker engine.

The file is validated against the Compose specification's JSON schema, then every image, port,
variable and command it names is checked against the code it runs.

The schema, compose-spec.json beside this file, is schema/compose-spec.json of the Compose
specification (github.com/compose-spec/compose-spec, branch master) byte for byte as the PyPI
package check-jsonschema 0.39.0 vendors it (check_jsonschema/builtin_schemas/vendor/), with the
sha256 that package records; Apache-2.0, licence in compose-spec.LICENSE. To update it, copy the
file from a newer check-jsonschema wheel and change COMPOSE_SPEC_SHA256.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from infra.settings import Settings
from tests.operations.compose_file import (
    APP_SERVICES,
    INTERPOLATION,
    ROOT,
    command,
    compose,
    dockerfile_instructions,
    environment,
    excluded_by_dockerignore,
    image,
    interpolate,
    required_variable,
    resolved_environment,
    service,
    settings_field_names,
)

HERE = Path(__file__).resolve().parent
COMPOSE_SPEC = HERE / "compose-spec.json"
COMPOSE_SPEC_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"

COMMANDS = {
    "api": ["python", "-m", "api"],
    "worker": ["python", "worker.py"],
    "migrate": ["alembic", "upgrade", "head"],
}
# Settings whose development default is wrong inside a container, per service that reads them:
# loopback addresses, the SQLite file, no token secret or key set, no encryption key.
MUST_SET = {
    "migrate": {"database_url"},
    "worker": {"temporal_address", "database_url", "econsult_encryption_keys", "public_api_url"},
    "api": {
        "temporal_address",
        "database_url",
        "econsult_encryption_keys",
        "auth_hs256_secret",
        "auth_audience",
        "auth_jwks_url",
        "auth_issuer",
        "api_host",
        "temporal_ui_origin",
    },
}
# Settings the production shape leaves at their default on purpose, and why; every other
# setting reaches the app services, so an operator can set it in .env.
LEFT_AT_DEFAULT = {
    "dev_codec_trusts_local_ui": "development only: the production shape must never trust a UI",
    "econsult_sandbox": "`make sandbox` only: compose runs a real Temporal, which it refuses",
    "fhir_entry_system": "identifier systems are part of the record-system contract",
    "fhir_consultation_system": "identifier systems are part of the record-system contract",
    # Compose runs its own Temporal on the project network, without TLS; these are for an
    # existing cluster or Temporal Cloud (docs/guide-operator.md, "TLS to Temporal and
    # PostgreSQL").
    **dict.fromkeys(
        (
            "temporal_tls_ca",
            "temporal_tls_cert",
            "temporal_tls_key",
            "temporal_tls_server_name",
            "temporal_api_key_file",
        ),
        "compose's own Temporal speaks plain gRPC on the project network",
    ),
}
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
# Values that must come from the operator's environment, never from this file.
SECRET = re.compile(
    r"(PASSWORD|PWD|SECRET|ENCRYPTION_KEYS)$|^AUTH_(?!REQUIRE_DPOP$|MAX_TOKEN_LIFETIME$)"
)

# --- The Compose specification --------------------------------------------------------------


def schema_errors(document: Mapping[str, Any]) -> list[str]:
    schema = json.loads(COMPOSE_SPEC.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_vendored_schema_is_the_published_compose_specification() -> None:
    digest = hashlib.sha256(COMPOSE_SPEC.read_bytes()).hexdigest()
    assert digest == COMPOSE_SPEC_SHA256
    assert json.loads(COMPOSE_SPEC.read_text())["title"] == "Compose Specification"


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    assert schema_errors(compose()) == []


def test_schema_check_catches_what_compose_would_refuse() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["worker"]["replicas"] = 3  # belongs under deploy:
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_finished"
    errors = schema_errors(broken)
    assert any(e.startswith("services/worker") for e in errors), errors
    assert any(e.startswith("services/api/depends_on") for e in errors), errors


# --- Settings -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_set_only_settings_fields(name: str) -> None:
    unknown = set(environment(name)) - settings_field_names()
    assert not unknown, f"{name} sets variables infra/settings.py does not read: {unknown}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_settings_without_a_production_default_are_set_where_used(name: str) -> None:
    required = {f for f, info in Settings.model_fields.items() if info.is_required()}
    assert MUST_SET[name] <= set(Settings.model_fields), "MUST_SET names a removed setting"
    missing = {f.upper() for f in MUST_SET[name] | required} - set(environment(name))
    assert not missing, f"{name} would run on development defaults for {missing}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_environment_parses_as_settings(name: str) -> None:
    # Strings, as the environment gives them: Settings parses each to its field's type.
    values: dict[str, Any] = {k.lower(): v for k, v in resolved_environment(name).items()}
    settings = Settings(**values)
    # A boolean reads back as Python spells it (False), the environment as people do (false).
    parsed = {k: str(getattr(settings, k)) for k in values}
    assert {k: v.lower() if v in ("True", "False") else v for k, v in parsed.items()} == values


def test_every_setting_reaches_the_app_services_or_is_left_at_its_default_on_purpose() -> None:
    passed = {key for name in APP_SERVICES for key in environment(name)}
    unpassed = settings_field_names() - passed - {f.upper() for f in LEFT_AT_DEFAULT}
    assert not unpassed, f"docker-compose.yml gives the app services no way to set {unpassed}"
    assert set(LEFT_AT_DEFAULT) <= set(Settings.model_fields), "LEFT_AT_DEFAULT names a removed one"


def operator_variables() -> set[str]:
    """What the operator's .env feeds: every ${NAME} in a value, and every pass-through."""
    names: set[str] = set()
    for name in compose()["services"]:
        spec = service(name)
        values = [spec.get("image", ""), *command(name), *(spec.get("ports") or [])]
        for key, value in environment(name).items():
            if value is None:
                names.add(key)
            values.append(value)
        for value in values:
            for match in INTERPOLATION.finditer(str(value)):
                if match.group(0) != "$$":
                    names.add(match.group("braced") or match.group("bare"))
    return names


def test_env_example_names_every_variable_the_compose_file_reads() -> None:
    example = ENV_EXAMPLE.read_text()
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    missing = operator_variables() - named
    assert not missing, f"deploy/.env.example does not say how to set {sorted(missing)}"


def test_secrets_are_required_from_the_environment_never_written_here() -> None:
    for name in compose()["services"]:
        for key, value in environment(name).items():
            if SECRET.search(key) and value is not None:
                assert required_variable(value), f"{name}: {key} must be ${{{key}:?...}}"
        for key in ("DATABASE_URL",):
            if key in environment(name):
                password = urlsplit(interpolate(environment(name)[key])).password
                assert password and re.fullmatch(r"<\w+>", password), (
                    f"{name}: the password in {key} must be a required variable"
                )


def test_api_and_worker_share_namespace_task_queue_and_keys() -> None:
    api, worker = environment("api"), environment("worker")
    for key in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "ECONSULT_TASK_QUEUE"):
        assert api[key] == worker[key], key
    for key in ("DATABASE_URL", "ECONSULT_ENCRYPTION_KEYS"):
        assert api[key] == worker[key] == environment("migrate").get(key, api[key]), key


# --- Commands and the application image ------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_the_documented_commands(name: str) -> None:
    assert command(name) == COMMANDS[name]


def test_the_commands_name_files_that_exist() -> None:
    assert (ROOT / "worker.py").is_file()
    assert (ROOT / "alembic.ini").is_file()
    assert (ROOT / "api" / "__main__.py").is_file()
    assert (ROOT / "store" / "migrations" / "env.py").is_file()


def test_app_services_share_one_image_built_from_the_dockerfile() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name in APP_SERVICES:
        assert image(name) == ("econsult", version), name
        build = service(name)["build"]
        context = build if isinstance(build, str) else build["context"]
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert (ROOT / context / dockerfile).is_file()


def test_application_image_is_python_3_11_slim_and_runs_as_non_root() -> None:
    instructions = dockerfile_instructions()
    bases = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(bases) == 1 and re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", bases[0]), bases
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, users
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"pip install (--no-deps )?\.(\s|$)", runs), "the image installs the project"


def test_application_image_contains_what_the_commands_need() -> None:
    workdirs = [rest for keyword, rest in dockerfile_instructions() if keyword == "WORKDIR"]
    copies = [rest for keyword, rest in dockerfile_instructions() if keyword == "COPY"]
    assert workdirs and any(c.split() == [".", "."] for c in copies), "the source lands in WORKDIR"
    for path in (
        "pyproject.toml",
        "worker.py",
        "alembic.ini",
        "store/migrations/env.py",
        "store/migrations/versions",
        "api/__main__.py",
        "infra/settings.py",
    ):
        assert not excluded_by_dockerignore(path), f".dockerignore leaves {path} out of the image"
    assert excluded_by_dockerignore(".env"), "the image must never contain the secrets file"


def test_the_api_needs_no_hs256_secret_beside_a_jwks() -> None:
    # D1: AUTH_JWKS_URL verifies tokens; the HS256 secret passes through only when set.
    assert required_variable(environment("api")["AUTH_JWKS_URL"]) == "AUTH_JWKS_URL"
    assert environment("api")["AUTH_HS256_SECRET"] is None
