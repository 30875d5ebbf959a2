"""docker-compose.yml: ports, health checks, start order and scaling, checked without Docker."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from infra.settings import Settings
from tests.operations.compose_file import (
    APP_SERVICES,
    ROOT,
    api_serves,
    command,
    compose,
    depends_on,
    dockerfile_instructions,
    duration,
    environment,
    every_image,
    healthcheck_url,
    published_ports,
    required_variable,
    resolved_environment,
    service,
)

# --- Ports and health ------------------------------------------------------------------------


def test_api_listens_where_compose_exposes_and_probes_it_and_publishes_no_host_port() -> None:
    env = resolved_environment("api")
    port = env.get("API_PORT", str(Settings.model_fields["api_port"].default))
    assert env.get("API_HOST") == "0.0.0.0", "inside a container the API must not bind loopback"
    # A fixed host port would stop `docker compose up --scale api=N`: the proxy is the way in.
    assert published_ports("api") == []
    assert service("api")["expose"] == [port]
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
