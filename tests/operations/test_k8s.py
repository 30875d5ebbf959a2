"""deploy/k8s: the production overlay renders, is valid Kubernetes 1.32 (strict), passes the
policy scanner but for the findings explained below, and says what the service needs.

Offline: `kubectl kustomize` renders, kubernetes-validate carries the API schemas, and checkov
runs from its own venv (.venv-tools, made by `make tools`, which `make test` runs first).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
import pytest

from tests.operations.compose_file import (
    api_serves,
    connections_per_process,
    settings_field_names,
)
from tests.operations.k8s_manifests import (
    ROOT,
    container,
    environment,
    mounted_secrets,
    named,
    objects,
    pod_spec,
    rendered,
    rendered_text,
    workloads,
)
from tests.operations.test_compose import COMMANDS, MUST_SET
from tests.operations.test_compose_temporal import UI_SERVER_SETTINGS

KUBERNETES_VERSION = "1.32.0"
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
# Every finding of the scanner that stays, by check and resource, and why it is acceptable.
EXPLAINED_FINDINGS = {
    # Image should use digest: the overlay names a release by tag; the release pipeline pins
    # the digest it built and scanned (`kustomize edit set image econsult=...@sha256:...`), and
    # the public images' digests are the operator's to pin with their mirror.
    ("CKV_K8S_43", "Deployment.econsult.econsult-api"): "digest pinned at release",
    ("CKV_K8S_43", "Deployment.econsult.econsult-worker"): "digest pinned at release",
    ("CKV_K8S_43", "Job.econsult.econsult-migrate"): "digest pinned at release",
    ("CKV_K8S_43", "Deployment.econsult.econsult-temporal-ui"): "digest pinned by the mirror",
    ("CKV_K8S_43", "CronJob.econsult.econsult-backup"): "digest pinned by the mirror",
    # Secrets as environment variables: the service reads ECONSULT_ENCRYPTION_KEYS and the
    # integrations' secrets from its environment only (as the Temporal UI its OIDC client
    # secret); per-practice secrets and every TLS key are files.
    ("CKV_K8S_35", "Deployment.econsult.econsult-api"): "the payload keys: environment only",
    ("CKV_K8S_35", "Deployment.econsult.econsult-worker"): "payload keys, integration secrets",
    ("CKV_K8S_35", "Deployment.econsult.econsult-temporal-ui"): "the UI's OIDC client secret",
    # Containers should run as a high UID: the Temporal UI runs as its image's own user (1000),
    # which owns the files the server reads.
    ("CKV_K8S_40", "Deployment.econsult.econsult-temporal-ui"): "the image's own user",
}
# Resident memory in the one-hour soak (bench/README.md, "make soak"): 165-183 MB.
MEASURED_RSS_MIB = {"econsult-api": 183, "econsult-worker": 165}
APP = {"econsult-api": "api", "econsult-worker": "worker", "econsult-migrate": "migrate"}
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * UNITS[unit] / 2**20


def validation_errors(document: dict[str, Any]) -> str | None:
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return str(error)
    return None


# --- Rendering, schema and policy ------------------------------------------------------------


def test_the_overlay_renders_every_part_of_the_service() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in rendered()}
    for name in ("econsult-api", "econsult-worker", "econsult-temporal-ui"):
        assert ("Deployment", name) in kinds
    assert ("Job", "econsult-migrate") in kinds
    assert ("CronJob", "econsult-backup") in kinds
    assert all(
        doc["metadata"].get("namespace") == "econsult"
        for doc in rendered()
        if doc["kind"] != "Namespace"
    )


def test_every_object_is_valid_kubernetes_1_32_in_strict_mode() -> None:
    errors = {doc["metadata"]["name"]: validation_errors(doc) for doc in rendered()}
    assert {name: error for name, error in errors.items() if error} == {}


def test_strict_validation_refuses_a_misplaced_field() -> None:
    broken = copy.deepcopy(named("Deployment", "econsult-api"))
    broken["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    assert validation_errors(broken)


def test_the_policy_scanner_finds_only_what_is_explained(tmp_path: Path) -> None:
    assert CHECKOV.exists(), "checkov is missing: `make tools` installs it in .venv-tools"
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(rendered_text())
    result = subprocess.run(
        [
            str(CHECKOV),
            "--framework",
            "kubernetes",
            "--file",
            str(manifest),
            "--skip-download",
            "--quiet",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] >= len(rendered()) - 2
    found = {(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]}
    assert found == set(EXPLAINED_FINDINGS)


# --- Pods: non-root, read-only, probes, resources ---------------------------------------------


@pytest.mark.parametrize("workload", list(workloads()), ids=lambda w: w["metadata"]["name"])
def test_every_pod_runs_non_root_read_only_with_no_capabilities(workload: dict[str, Any]) -> None:
    pod = pod_spec(workload)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container(workload)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    tmp = [m for m in container(workload)["volumeMounts"] if m["mountPath"] == "/tmp"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert tmp and "emptyDir" in volumes[tmp[0]["name"]], "a writable /tmp"
    resources = container(workload)["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) & set(resources["limits"])


@pytest.mark.parametrize("name", sorted(MEASURED_RSS_MIB))
def test_memory_requests_cover_the_measured_footprint(name: str) -> None:
    resources = container(named("Deployment", name))["resources"]
    assert mebibytes(resources["requests"]["memory"]) >= MEASURED_RSS_MIB[name]
    assert mebibytes(resources["limits"]["memory"]) >= 2 * MEASURED_RSS_MIB[name]


def test_the_api_is_live_on_healthz_ready_on_readyz_at_its_port() -> None:
    api = container(named("Deployment", "econsult-api"))
    port = {p["name"]: p["containerPort"] for p in api["ports"]}["http"]
    assert int(environment(named("Deployment", "econsult-api"))["API_PORT"] or 0) == port
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert api_serves("GET", api[probe]["httpGet"]["path"])


def test_the_worker_is_probed_on_its_metrics_endpoint() -> None:
    worker = named("Deployment", "econsult-worker")
    address = environment(worker)["WORKER_METRICS_ADDRESS"] or ""
    assert address.startswith("0.0.0.0:")
    port = {p["name"]: p["containerPort"] for p in container(worker)["ports"]}["metrics"]
    assert int(address.rsplit(":", 1)[1]) == port
    assert container(worker)["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert pod_spec(worker)["terminationGracePeriodSeconds"] > 30, "30 s for running activities"


# --- Commands, settings and the order of a release ---------------------------------------------


@pytest.mark.parametrize("name", sorted(APP))
def test_app_containers_run_the_documented_commands_with_production_settings(name: str) -> None:
    kind = "Job" if name == "econsult-migrate" else "Deployment"
    workload = named(kind, name)
    assert container(workload)["command"] == COMMANDS[APP[name]]
    env = set(environment(workload))
    unknown = env - settings_field_names()
    assert not unknown, f"{name} sets variables nothing reads: {unknown}"
    secrets = {"econsult_encryption_keys"} if APP[name] != "migrate" else set()
    # D1: a JWKS verifies tokens; the HS256 secret is a development fallback only.
    expected = MUST_SET[APP[name]] - secrets - {"auth_hs256_secret"}
    assert {f.upper() for f in expected} <= env, f"{name} runs on development defaults"
    assert "AUTH_HS256_SECRET" not in env


def test_the_payload_keys_come_from_a_secret() -> None:
    for name in ("econsult-api", "econsult-worker"):
        refs = [
            s["secretRef"]["name"]
            for s in container(named("Deployment", name))["envFrom"]
            if "secretRef" in s
        ]
        assert "econsult-encryption-keys" in refs


def test_the_migration_runs_once_before_the_release_rolls_out() -> None:
    job = named("Job", "econsult-migrate")
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    wave = "argocd.argoproj.io/sync-wave"
    waves = {
        name: int(named("Deployment", name)["metadata"]["annotations"][wave])
        for name in ("econsult-worker", "econsult-api")
    }
    assert waves["econsult-worker"] < waves["econsult-api"], "workers before the API"
    assert not pod_spec(named("Deployment", "econsult-api")).get("initContainers")


# --- TLS material and per-practice secrets ------------------------------------------------------


@pytest.mark.parametrize("name", ["econsult-api", "econsult-worker"])
def test_temporal_and_postgresql_tls_settings_name_files_of_mounted_secrets(name: str) -> None:
    workload = named("Deployment", name)
    env, mounts = environment(workload), mounted_secrets(workload)

    def mounted(path: str) -> str:
        folder = str(Path(path).parent)
        assert folder in mounts, f"{path} is not in a mounted Secret"
        return mounts[folder]

    temporal = {
        mounted(env[k] or "") for k in ("TEMPORAL_TLS_CA", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY")
    }
    assert temporal == {"econsult-temporal-tls"}
    assert env["TEMPORAL_TLS_SERVER_NAME"] == (env["TEMPORAL_ADDRESS"] or "").rsplit(":", 1)[0]
    url = urlsplit(env["DATABASE_URL"] or "")
    assert url.scheme == "postgresql+psycopg" and url.password is None, "certificates, no password"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["sslmode"] == "verify-full"
    assert {mounted(query[k]) for k in ("sslrootcert", "sslcert", "sslkey")} == {
        "econsult-postgresql-tls"
    }


@pytest.mark.parametrize("name", ["econsult-api", "econsult-worker"])
def test_practice_secrets_are_projected_one_folder_per_practice(name: str) -> None:
    workload = named("Deployment", name)
    directory = environment(workload)["ECONSULT_SECRETS_DIR"]
    (mount,) = [m for m in container(workload)["volumeMounts"] if m["mountPath"] == directory]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"]]
    sources = volume["projected"]["sources"]
    assert sources, "the overlay projects at least one practice's Secret"
    for source in sources:
        practice = source["secret"]["name"].removeprefix("econsult-practice-")
        for item in source["secret"]["items"]:
            assert item["path"].split("/") == [practice, item["key"]]


# --- Availability and scaling -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["econsult-api", "econsult-worker"])
def test_api_and_worker_have_a_disruption_budget_and_an_autoscaler(name: str) -> None:
    labels = named("Deployment", name)["spec"]["template"]["metadata"]["labels"]
    budget = named("PodDisruptionBudget", name)
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    autoscaler = named("HorizontalPodAutoscaler", name)["spec"]
    assert autoscaler["scaleTargetRef"]["name"] == name
    assert autoscaler["minReplicas"] > budget["spec"]["minAvailable"]


def test_the_case_store_allows_the_connections_of_every_replica_at_full_scale() -> None:
    per_process = connections_per_process()
    replicas = sum(
        named("HorizontalPodAutoscaler", n)["spec"]["maxReplicas"]
        for n in ("econsult-api", "econsult-worker")
    )
    config = (ROOT / "deploy" / "postgresql" / "postgresql.conf").read_text()
    allowed = int(re.search(r"^max_connections = (\d+)", config, re.M).group(1))  # type: ignore[union-attr]
    # Plus one migration or reconcile, and PostgreSQL's reserved superuser connections (3).
    assert (replicas + 1) * per_process + 3 <= allowed


# --- Network --------------------------------------------------------------------------------


def policies_for(name: str) -> list[dict[str, Any]]:
    labels = named("Deployment", name)["spec"]["template"]["metadata"]["labels"]
    return [
        p["spec"]
        for p in objects("NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
        and not p["spec"]["podSelector"].get("matchExpressions")
    ]


def test_everything_is_denied_unless_a_policy_allows_it() -> None:
    deny = named("NetworkPolicy", "econsult-default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_the_api_takes_requests_from_the_ingress_controller_only() -> None:
    sources = [
        (
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        )
        for policy in policies_for("econsult-api")
        for rule in policy.get("ingress", [])
        for peer in rule["from"]
    ]
    # Prometheus scrapes /metrics on the same port; the ingress forwards /v1/ and /codec/ only.
    assert sorted(sources) == [("ingress-nginx", "ingress-nginx"), ("monitoring", "prometheus")]


@pytest.mark.parametrize("name", ["econsult-api", "econsult-worker", "econsult-temporal-ui"])
def test_pods_reach_only_dns_temporal_postgresql_and_https(name: str) -> None:
    ports = {
        port["port"]
        for policy in policies_for(name)
        for rule in policy.get("egress", [])
        for port in rule["ports"]
    }
    assert ports <= {53, 7233, 5432, 443}
    assert 7233 in ports


def test_the_ingress_exposes_only_v1_and_codec_of_the_api() -> None:
    rules = named("Ingress", "econsult-api")["spec"]["rules"]
    paths = {p["path"] for rule in rules for p in rule["http"]["paths"]}
    assert paths == {"/v1/", "/codec/"}


# --- Temporal UI and backups ------------------------------------------------------------------


def test_the_temporal_ui_decodes_through_the_api_and_offers_no_write_actions() -> None:
    env = environment(named("Deployment", "econsult-temporal-ui"))
    assert set(env) <= UI_SERVER_SETTINGS
    assert env["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    codec = urlsplit(env["TEMPORAL_CODEC_ENDPOINT"] or "")
    assert codec.scheme == "https" and api_serves("POST", f"{codec.path}/decode")
    assert env["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    assert env["TEMPORAL_TLS_CERT"] and env["TEMPORAL_AUTH_ENABLED"] == "true"


def test_backups_are_scheduled_encrypted_and_kept_on_a_volume() -> None:
    backup = named("CronJob", "econsult-backup")
    script = " ".join(container(backup)["args"])
    assert re.search(r"pg_dump [^|]*\|\s*gpg [^|]*--encrypt", script)
    claims = [v for v in pod_spec(backup)["volumes"] if "persistentVolumeClaim" in v]
    assert claims and named("PersistentVolumeClaim", "econsult-backups")
    assert backup["spec"]["concurrencyPolicy"] == "Forbid"
