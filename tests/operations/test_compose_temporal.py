"""docker-compose.yml: the Temporal server, its schema, namespace and UI, checked without Docker."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from temporalio.common import SearchAttributeIndexedValueType

from infra.settings import Settings
from tests.operations.compose_file import (
    COMPOSE_FILE,
    ROOT,
    api_serves,
    command,
    compose,
    environment,
    every_image,
    image,
    published_ports,
    required_variable,
    resolved_environment,
)
from workflows import search_attributes

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


def test_the_temporal_ui_offers_no_write_actions() -> None:
    # Terminate, reset, signal and cancel go through the CLI, by the runbook, with a reason.
    assert resolved_environment("temporal-ui")["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
