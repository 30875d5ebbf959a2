"""deploy/k8s rendered as `kubectl kustomize` renders it, for the Kubernetes tests.

kubectl (with kustomize v5) must be on the machine; without it the tests fail, they never skip.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAY = K8S / "production"


@cache
def rendered_text() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is missing: the Kubernetes tests render deploy/k8s with it")
    result = subprocess.run(
        [kubectl, "kustomize", str(OVERLAY)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@cache
def rendered() -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all(rendered_text()) if doc)


def objects(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in rendered() if doc["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in objects(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"no single {kind} {name}"
    return found[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec of a Deployment, Job or CronJob."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


def workloads() -> Iterator[dict[str, Any]]:
    for doc in rendered():
        if doc["kind"] in {"Deployment", "Job", "CronJob"}:
            yield doc


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(workload)["containers"]
    found: dict[str, Any] = only
    return found


def config_map(prefix: str) -> dict[str, str]:
    """A generated ConfigMap's data, by its name before kustomize's hash suffix."""
    found = [
        doc for doc in objects("ConfigMap") if doc["metadata"]["name"].rsplit("-", 1)[0] == prefix
    ]
    assert len(found) == 1, f"no single ConfigMap {prefix}"
    data: dict[str, str] = found[0].get("data", {})
    return data


def environment(workload: dict[str, Any]) -> dict[str, str | None]:
    """What the container's environment holds: literal values, None for a Secret's."""
    spec = container(workload)
    values: dict[str, str | None] = {}
    for source in spec.get("envFrom", []):
        if "configMapRef" in source:
            values.update(config_map(source["configMapRef"]["name"].rsplit("-", 1)[0]))
    for variable in spec.get("env", []):
        reference = variable.get("valueFrom", {}).get("configMapKeyRef")
        if reference:
            found = config_map(reference["name"].rsplit("-", 1)[0])
            values[variable["name"]] = found[reference["key"]]
        else:
            values[variable["name"]] = variable.get("value")
    return values


def mounted_secrets(workload: dict[str, Any]) -> dict[str, str]:
    """Mount path -> Secret name, for the container's secret volumes."""
    volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
    mounts = {}
    for mount in container(workload).get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "secret" in volume:
            mounts[mount["mountPath"]] = volume["secret"]["secretName"]
    return mounts
