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
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from datetime import timedelta
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from starlette.routing import Match
from temporalio.common import SearchAttributeIndexedValueType

from infra.settings import Settings
from workflows import search_attributes

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_SPEC = HERE / "compose-spec.json"
COMPOSE_SPEC_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"

APP_SERVICES = ("api", "worker", "migrate")
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
# The environment variables the Temporal UI server image reads (its docker config template,
# server/docker/config-template.yaml of temporalio/ui, and the UI's environment variables
# reference); anything else in temporal-ui's environment would be silently ignored.
UI_SERVER_SETTINGS = frozenset(
    {
        "TEMPORAL_ADDRESS",
        "TEMPORAL_UI_PORT",
        "TEMPORAL_UI_PUBLIC_PATH",
        "TEMPORAL_UI_ENABLED",
        "TEMPORAL_BANNER_TEXT",
        "TEMPORAL_CLOUD_UI",
        "TEMPORAL_DEFAULT_NAMESPACE",
        "TEMPORAL_FEEDBACK_URL",
        "TEMPORAL_NOTIFY_ON_NEW_VERSION",
        "TEMPORAL_CONFIG_REFRESH_INTERVAL",
        "TEMPORAL_SHOW_TEMPORAL_SYSTEM_NAMESPACE",
        "TEMPORAL_DISABLE_WRITE_ACTIONS",
        "TEMPORAL_CORS_ORIGINS",
        "TEMPORAL_CSRF_COOKIE_INSECURE",
        "TEMPORAL_TLS_CA",
        "TEMPORAL_TLS_CERT",
        "TEMPORAL_TLS_KEY",
        "TEMPORAL_TLS_ENABLE_HOST_VERIFICATION",
        "TEMPORAL_TLS_SERVER_NAME",
        "TEMPORAL_AUTH_ENABLED",
        "TEMPORAL_AUTH_LABEL",
        "TEMPORAL_AUTH_TYPE",
        "TEMPORAL_AUTH_PROVIDER_URL",
        "TEMPORAL_AUTH_ISSUER_URL",
        "TEMPORAL_AUTH_CLIENT_ID",
        "TEMPORAL_AUTH_CLIENT_SECRET",
        "TEMPORAL_AUTH_CALLBACK_URL",
        "TEMPORAL_AUTH_SCOPES",
        "TEMPORAL_CODEC_ENDPOINT",
        "TEMPORAL_CODEC_PASS_ACCESS_TOKEN",
        "TEMPORAL_CODEC_INCLUDE_CREDENTIALS",
        "TEMPORAL_FORWARD_HEADERS",
        "TEMPORAL_HIDE_LOGS",
    }
)
# `make run` only (api/routes/codec.py): the production shape must never trust a UI unasked.
DEV_TRUST = "DEV_CODEC_TRUSTS_LOCAL_UI"
# Settings the production shape leaves at their default on purpose, and why; every other
# setting reaches the app services, so an operator can set it in .env.
LEFT_AT_DEFAULT = {
    "dev_codec_trusts_local_ui": "development only: the production shape must never trust a UI",
    "fhir_entry_system": "identifier systems are part of the record-system contract",
    "fhir_consultation_system": "identifier systems are part of the record-system contract",
}
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
# Values that must come from the operator's environment, never from this file.
SECRET = re.compile(r"(PASSWORD|PWD|SECRET|ENCRYPTION_KEYS)$|^AUTH_(?!REQUIRE_DPOP$)")
CLI_TYPE = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}
# Where temporalio/admin-tools keeps each database's versioned schema, by the variable naming it.
TEMPORAL_SCHEMAS = {
    "DBNAME": "/etc/temporal/schema/postgresql/v12/temporal/versioned",
    "VISIBILITY_DBNAME": "/etc/temporal/schema/postgresql/v12/visibility/versioned",
}

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, $NAME, $$
INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<braced>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


# --- Reading the file as Compose would, with no variable set --------------------------------


@cache
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    found: dict[str, Any] = services[name]
    return found


def interpolate(value: object) -> str:
    """The value with defaults applied; a required variable becomes `<NAME>`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op = match.group("op") or ""
        if op.endswith("-"):
            return match.group("arg")
        if op.endswith("?"):
            return f"<{name}>"
        return ""

    return INTERPOLATION.sub(replace, str(value))


def required_variable(value: object) -> str | None:
    """NAME when the whole value is `${NAME:?message}`, else None."""
    match = INTERPOLATION.fullmatch(str(value))
    if match and match.group("op") == ":?":
        return match.group("braced")
    return None


def environment(name: str) -> dict[str, object]:
    """The service's environment as written: a null value is passed through from the host."""
    raw = service(name).get("environment") or {}
    if isinstance(raw, list):
        return {k: v for k, _, v in (item.partition("=") for item in raw)}
    return dict(raw)


def resolved_environment(name: str) -> dict[str, str]:
    return {k: interpolate(v) for k, v in environment(name).items() if v is not None}


def command(name: str) -> list[str]:
    raw = service(name).get("command")
    return shlex.split(raw) if isinstance(raw, str) else list(raw or [])


def image(name: str) -> tuple[str, str]:
    reference = interpolate(service(name)["image"])
    repository, _, tag = reference.rpartition(":")
    return (repository, tag) if repository and "/" not in tag else (reference, "")


def published_ports(name: str) -> list[tuple[str, str]]:
    """(host port, container port) pairs; host port is "" when Docker picks one."""
    pairs = []
    for entry in service(name).get("ports") or []:
        if isinstance(entry, dict):
            pairs.append((interpolate(entry.get("published", "")), str(entry["target"])))
            continue
        parts = interpolate(entry).split("/")[0].split(":")
        pairs.append((parts[-2] if len(parts) > 1 else "", parts[-1]))
    return pairs


def depends_on(name: str) -> dict[str, str]:
    raw = service(name).get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {k: (v or {}).get("condition", "service_started") for k, v in raw.items()}


def healthcheck_url(name: str) -> str:
    test = service(name)["healthcheck"]["test"]
    text = test if isinstance(test, str) else " ".join(test)
    match = re.search(r"https?://[^'\"\s]+", text)
    assert match, f"{name}'s healthcheck requests no URL: {text}"
    return match.group(0)


def duration(text: str) -> timedelta:
    units = {"h": "hours", "m": "minutes", "s": "seconds", "ms": "milliseconds"}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text}"
    return sum((timedelta(**{units[u]: float(n)}) for n, u in parts), timedelta())


def settings_field_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def every_image() -> Iterator[tuple[str, str, str]]:
    for name, spec in compose()["services"].items():
        if "image" in spec:
            yield (name, *image(name))


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = (line.strip() for line in text.splitlines())
    return [
        (keyword.upper(), rest.strip())
        for keyword, _, rest in (line.partition(" ") for line in lines if line)
        if not keyword.startswith("#")
    ]


def excluded_by_dockerignore(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "re-inclusions are not checked here"
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in (p.strip("/") for p in patterns):
        for prefix in prefixes:
            if fnmatchcase(prefix, pattern):
                return True
            if pattern.startswith("**/") and fnmatchcase(prefix.split("/")[-1], pattern[3:]):
                return True
    return False


@cache
def api_app() -> Any:
    from api.app import create_app

    return create_app(Settings())


def api_serves(method: str, path: str) -> bool:
    """Whether the API routes `method path` to an endpoint (routing only, nothing runs)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    return any(route.matches(scope)[0] == Match.FULL for route in api_app().routes)


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
    assert re.search(r"pip install \.(\s|$)", runs), "the image installs the project with pip"


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


# --- Ports and health ------------------------------------------------------------------------


def test_api_listens_where_compose_publishes_and_probes_it() -> None:
    env = resolved_environment("api")
    port = env.get("API_PORT", str(Settings.model_fields["api_port"].default))
    assert env.get("API_HOST") == "0.0.0.0", "inside a container the API must not bind loopback"
    assert [container for _, container in published_ports("api")] == [port]
    assert urlsplit(healthcheck_url("api")).port == int(port)


def test_api_healthcheck_probes_healthz_or_readyz_which_the_api_serves() -> None:
    path = urlsplit(healthcheck_url("api")).path
    assert path in {"/healthz", "/readyz"}
    assert api_serves("GET", path), f"the API does not serve GET {path}"


def test_services_that_others_wait_for_have_healthchecks() -> None:
    for name in compose()["services"]:
        for target, condition in depends_on(name).items():
            assert target in compose()["services"], f"{name} waits for unknown {target}"
            if condition == "service_healthy":
                assert "healthcheck" in service(target), f"{name} waits for {target}'s health"


# --- Start order ----------------------------------------------------------------------------


def test_start_order_migrates_and_registers_before_the_app_starts() -> None:
    done = "service_completed_successfully"
    assert depends_on("temporal-schema") == {"temporal-postgresql": "service_healthy"}
    assert depends_on("temporal") == {"temporal-schema": done}
    assert depends_on("temporal-namespace") == {"temporal": "service_healthy"}
    assert depends_on("migrate") == {"postgresql": "service_healthy"}
    for name in ("api", "worker"):
        assert depends_on(name) == {"migrate": done, "temporal-namespace": done}, name
    for one_shot in ("temporal-schema", "temporal-namespace", "migrate"):
        assert service(one_shot).get("restart") == "no", f"{one_shot} runs once"


def test_start_order_has_no_cycle() -> None:
    services = compose()["services"]
    remaining = {name: set(depends_on(name)) for name in services}
    while remaining:
        ready = {name for name, needs in remaining.items() if not needs & remaining.keys()}
        assert ready, f"services wait for each other: {sorted(remaining)}"
        for name in ready:
            del remaining[name]


def test_app_services_address_services_of_this_file() -> None:
    host, port = resolved_environment("api")["TEMPORAL_ADDRESS"].rsplit(":", 1)
    assert host == "temporal" and port in service("temporal").get("expose", [])
    for name in APP_SERVICES:
        url = urlsplit(resolved_environment(name)["DATABASE_URL"])
        assert url.scheme == "postgresql+psycopg", "the case store speaks psycopg 3"
        database = resolved_environment(str(url.hostname))
        assert url.port == 5432
        assert url.username == database["POSTGRES_USER"]
        assert url.path == "/" + database["POSTGRES_DB"]
        assert (
            url.password
            == f"<{required_variable(environment(str(url.hostname))['POSTGRES_PASSWORD'])}>"
        )


# --- Temporal -------------------------------------------------------------------------------


def test_temporal_server_uses_the_server_image_not_auto_setup() -> None:
    assert image("temporal")[0] == "temporalio/server"
    for name, repository, _ in every_image():
        assert "auto-setup" not in repository, f"{name} uses the deprecated auto-setup image"


def test_temporal_schema_is_set_up_by_the_admin_tools_of_the_server_release() -> None:
    server_tag = image("temporal")[1]
    for name in ("temporal-schema", "temporal-namespace"):
        assert image(name) == ("temporalio/admin-tools", server_tag), name
    assert command("temporal-schema") == ["/deploy/setup-schema.sh"]
    script = (ROOT / "deploy" / "temporal" / "setup-schema.sh").read_text()
    assert "temporal-sql-tool --plugin postgres12" in script
    for step in ("create", "setup-schema -v 0.0", 'update-schema -d "$schema_dir"'):
        assert f'--db "$database" {step}' in script, step
    for database, directory in TEMPORAL_SCHEMAS.items():
        assert f'setup "${database}" {directory}\n' in script, database
    schema_env, server_env = (
        resolved_environment("temporal-schema"),
        resolved_environment("temporal"),
    )
    for key in ("DBNAME", "VISIBILITY_DBNAME", "POSTGRES_SEEDS", "POSTGRES_USER", "DB_PORT"):
        assert schema_env[key] == server_env[key], key
    assert server_env["DB"] == "postgres12"
    assert environment("temporal-schema")["SQL_PASSWORD"] == environment("temporal")["POSTGRES_PWD"]


def test_registered_search_attributes_are_the_workflow_search_attributes() -> None:
    registered = dict(
        pair.split("=", 1)
        for pair in resolved_environment("temporal-namespace")["SEARCH_ATTRIBUTES"].split()
    )
    expected = {key.name: CLI_TYPE[key.indexed_value_type] for key in search_attributes.ALL}
    assert registered == expected
    assert command("temporal-namespace") == ["/deploy/register-namespace.sh"]
    script = (ROOT / "deploy" / "temporal" / "register-namespace.sh").read_text()
    assert "temporal operator search-attribute create" in script
    assert "$SEARCH_ATTRIBUTES" in script


def test_namespace_registered_is_the_one_api_and_worker_use() -> None:
    registered = environment("temporal-namespace")["TEMPORAL_NAMESPACE"]
    assert environment("api")["TEMPORAL_NAMESPACE"] == registered
    assert environment("worker")["TEMPORAL_NAMESPACE"] == registered
    assert environment("temporal-ui")["TEMPORAL_DEFAULT_NAMESPACE"] == registered


def test_temporal_ui_sets_only_documented_ui_server_settings() -> None:
    unknown = {key for key in environment("temporal-ui") if key not in UI_SERVER_SETTINGS}
    assert not unknown, f"the Temporal UI server reads no {unknown}"


def test_temporal_ui_decodes_through_the_api_codec_endpoint_with_the_operators_token() -> None:
    ui = resolved_environment("temporal-ui")
    assert ui["TEMPORAL_ADDRESS"] == resolved_environment("api")["TEMPORAL_ADDRESS"]
    assert [(ui["TEMPORAL_UI_PORT"])] == [c for _, c in published_ports("temporal-ui")]
    codec = urlsplit(ui["TEMPORAL_CODEC_ENDPOINT"])
    assert codec.path == "/codec"
    # The codec endpoint asks for the operator's admin token. The UI passes it on only to an
    # https endpoint (over http it sends no request at all) and has one only after sign-in.
    assert ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    assert codec.scheme == "https", "the UI passes no token to an http codec endpoint"
    assert ui["TEMPORAL_AUTH_ENABLED"] == "true" and ui["TEMPORAL_AUTH_TYPE"] == "oidc"
    for key in ("TEMPORAL_AUTH_PROVIDER_URL", "TEMPORAL_AUTH_CLIENT_ID"):
        assert required_variable(environment("temporal-ui")[key]), key
    assert "econsult:admin" in ui["TEMPORAL_AUTH_SCOPES"].split(",")


def test_the_api_allows_the_public_origin_of_the_ui() -> None:
    ui = resolved_environment("temporal-ui")
    callback = urlsplit(ui["TEMPORAL_AUTH_CALLBACK_URL"])
    assert (callback.scheme, callback.path) == ("https", "/auth/sso/callback")
    origin = resolved_environment("api")["TEMPORAL_UI_ORIGIN"]
    assert origin == f"https://{callback.netloc}"
    assert ui["TEMPORAL_CORS_ORIGINS"] == origin


def test_the_development_trust_of_the_local_ui_is_never_set_here() -> None:
    for path in (COMPOSE_FILE, ROOT / "deploy" / ".env.example", ROOT / "Dockerfile"):
        assert DEV_TRUST not in path.read_text(), path
    development = {name.upper() for name in Settings.model_fields if name.startswith("dev_")}
    assert DEV_TRUST in development
    for name in compose()["services"]:
        assert not development & set(environment(name)), name


def test_the_api_of_this_file_would_refuse_the_development_trust() -> None:
    from api.app import create_app
    from api.routes.codec import LocalUiTrustRefused

    values: dict[str, Any] = {k.lower(): v for k, v in resolved_environment("api").items()}
    with pytest.raises(LocalUiTrustRefused):
        create_app(Settings(**values, dev_codec_trusts_local_ui=True))


def test_api_serves_the_codec_endpoint_the_ui_calls() -> None:
    if not any("codec" in source.read_text() for source in (ROOT / "api").rglob("*.py")):
        pytest.skip("the API has no codec endpoint yet")
    for path in ("/codec/encode", "/codec/decode"):
        assert api_serves("POST", path), f"the API does not serve POST {path}"


# --- Scaling and images ---------------------------------------------------------------------


def test_worker_scales_without_fixed_names_or_host_ports() -> None:
    worker = service("worker")
    assert "container_name" not in worker
    assert all(host == "" for host, _ in published_ports("worker"))


def test_worker_gets_its_graceful_shutdown_before_being_killed() -> None:
    from worker import GRACEFUL_SHUTDOWN

    assert duration(service("worker")["stop_grace_period"]) > GRACEFUL_SHUTDOWN


def test_every_image_has_a_pinned_tag() -> None:
    images = list(every_image())
    assert images
    for name, repository, tag in images:
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {repository}:{tag}"
    for _, rest in (i for i in dockerfile_instructions() if i[0] == "FROM"):
        assert re.search(r":[^:]*\d[^:]*$", rest) and not rest.endswith(":latest"), rest


def test_files_the_services_read_from_deploy_exist() -> None:
    for name, spec in compose()["services"].items():
        mounts = [
            (source, target)
            for source, target, *_ in (v.split(":") for v in spec.get("volumes") or [])
            if source.startswith(".")
        ]
        for source, _ in mounts:
            assert (ROOT / source).exists(), f"{name} mounts missing {source}"
        for value in [*command(name), *resolved_environment(name).values()]:
            for source, target in mounts:
                if value.startswith(target + "/"):
                    path = ROOT / source / value.removeprefix(target + "/")
                    assert path.is_file(), f"{name} reads {value}, which is missing: {path}"
