"""docker-compose.yml's one-shot `temporal-namespace` (deploy/temporal/register-namespace.sh),
run against a real Temporal dev server: it creates the namespace with
TEMPORAL_NAMESPACE_RETENTION and registers the search attributes, and a later run with another
retention changes the existing namespace's retention (it used to apply only at creation)."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from dev.harness.processes import BIN
from tests.operations.compose_file import ROOT, resolved_environment
from tests.support import temporal_address

SCRIPT = ROOT / "deploy" / "temporal" / "register-namespace.sh"


async def register(env: WorkflowEnvironment, namespace: str, retention: str) -> str:
    variables = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "TEMPORAL_ADDRESS": temporal_address(env),
        "TEMPORAL_NAMESPACE": namespace,
        "TEMPORAL_NAMESPACE_RETENTION": retention,
        "SEARCH_ATTRIBUTES": resolved_environment("temporal-namespace")["SEARCH_ATTRIBUTES"],
    }
    process = await asyncio.create_subprocess_exec(
        "sh",
        str(SCRIPT),
        env=variables,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def retention_of(env: WorkflowEnvironment, namespace: str) -> timedelta:
    described = await env.client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta()


async def test_a_changed_retention_reaches_the_existing_namespace(
    dev_env: WorkflowEnvironment,
) -> None:
    namespace = f"retention-{uuid.uuid4().hex[:8]}"
    # Days, as deploy/.env.example writes the default (30d).
    first = await register(dev_env, namespace, "3d")
    assert await retention_of(dev_env, namespace) == timedelta(days=3)
    assert first.rstrip().endswith("temporal-namespace: done")
    second = await register(dev_env, namespace, "5d")
    assert f"namespace {namespace} exists" in second
    assert await retention_of(dev_env, namespace) == timedelta(days=5)
