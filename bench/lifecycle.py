"""Lifecycle throughput: full consultations per second through the API, against the skeleton.

A full consultation is create with a message, one clinician reply and a close, each an HTTP
call to `python -m api` (which drives `python worker.py` through Temporal, every activity
writing to PostgreSQL), done when its workflow has completed. The skeleton runs the same
updates and activities with nothing in them, driven by a Temporal client on the same
server in the same run: the ratio says how much of Temporal's own pace the service keeps.
The naive anchor (bench/naive.py) is a fixed plain lifecycle on the same server: "API / naive"
cannot move when the workflow's shape changes, only when the service's cost does.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from bench.cpu import CpuMeter
from bench.naive import naive_lifecycle
from bench.progress import progress
from bench.skeleton import BenchSkeleton
from bench.skeleton_plan import LifecyclePlan, SkeletonStart, padding, plan_from_history
from bench.stack import REPLY_BODY, Stack, Tokens, consultation_body, seed_clinician
from bench.timeline import median_breakdown
from domain.models import consultation_workflow_id
from infra.settings import Settings
from infra.temporal import connect

# One lifecycle, start to finish; it answers with its workflow's or consultation's id.
Lifecycle = Callable[[], Awaitable[str]]

CLINICIAN = "bench-hpr-lifecycle"
HTTP_TIMEOUT = httpx.Timeout(60.0)
# Histories read after each run to show where a lifecycle's time goes.
TIMELINE_SAMPLE = 20


async def client_for(stack: Stack) -> Client:
    """A client like the API's own: same address, same encrypted converter."""
    return await connect(
        Settings(
            temporal_address=stack.temporal_address,
            econsult_encryption_keys=stack.env["ECONSULT_ENCRYPTION_KEYS"],
        )
    )


def _expect(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:300]}"
        )
    body: dict[str, Any] = response.json()
    return body


class ApiLifecycle:
    """One consultation from create to close through the HTTP API, as its parties call it."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient, client: Client) -> None:
        self._http = http
        self._client = client
        self._service = stack.tokens.service()
        self._clinician = stack.tokens.clinician(CLINICIAN)

    @classmethod
    def over(cls, http: httpx.AsyncClient, client: Client, tokens: Tokens) -> ApiLifecycle:
        """The same lifecycle against an API without a `Stack` (bench/round_trips.py)."""
        lifecycle = cls.__new__(cls)
        lifecycle._http, lifecycle._client = http, client
        lifecycle._service = tokens.service()
        lifecycle._clinician = tokens.clinician(CLINICIAN)
        return lifecycle

    async def __call__(self) -> str:
        created = _expect(
            await self._http.post(
                "/v1/consultations", json=consultation_body(CLINICIAN), headers=self._service
            ),
            201,
        )
        path = f"/v1/consultations/{created['id']}"
        reply = await self._http.post(f"{path}/replies", json=REPLY_BODY, headers=self._clinician)
        _expect(reply, 200)
        _expect(await self._http.post(f"{path}/close", headers=self._clinician), 200)
        # Done when the workflow is: its last notification has gone out.
        handle = self._client.get_workflow_handle(consultation_workflow_id(created["id"]))
        await handle.result()
        return str(created["id"])


class SkeletonLifecycle:
    """The same updates in the same order against BenchSkeleton, straight from a client."""

    def __init__(self, client: Client, plan: LifecyclePlan, task_queue: str) -> None:
        self._client = client
        self._plan = plan
        self._task_queue = task_queue
        # The start carries the plan; pad it to the real start's size if the plan is smaller.
        plan_bytes = len(plan.model_dump_json())
        self._start = SkeletonStart(plan=plan, padding=padding(plan.start_input_bytes - plan_bytes))

    async def __call__(self) -> str:
        first, *rest = self._plan.steps
        workflow_id = f"bench-skeleton-{uuid.uuid4().hex}"
        operation = WithStartWorkflowOperation(
            BenchSkeleton.run,
            self._start,
            id=workflow_id,
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        await self._client.execute_update_with_start_workflow(
            first.update,
            *_update_args(first.input_bytes),
            start_workflow_operation=operation,
            result_type=str,
        )
        handle = await operation.workflow_handle()
        for step in rest:
            await handle.execute_update(step.update, *_update_args(step.input_bytes))
        await handle.result()
        return workflow_id


class NaiveLifecycle:
    """The fixed anchor (bench/naive.py): a plain client, no codec, no interceptors."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    async def __call__(self) -> str:
        workflow_id = f"bench-naive-{uuid.uuid4().hex}"
        return await naive_lifecycle(self._client, workflow_id, self._task_queue)


def _update_args(input_bytes: int) -> tuple[str, ...]:
    return (padding(input_bytes),) if input_bytes else ()


@dataclass(frozen=True)
class Drivers:
    """The service's lifecycle through the API and the naive anchor's, ready to run."""

    client: Client
    api: ApiLifecycle
    naive: NaiveLifecycle


@asynccontextmanager
async def open_drivers(stack: Stack, concurrency: int) -> AsyncIterator[Drivers]:
    """Clients for up to `concurrency` lifecycles in flight: one HTTP connection each."""
    seed_clinician(stack, CLINICIAN)
    client = await client_for(stack)
    plain = await Client.connect(stack.temporal_address)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=HTTP_TIMEOUT, limits=limits
    ) as http:
        yield Drivers(
            client,
            ApiLifecycle(stack, http, client),
            NaiveLifecycle(plain, stack.env["BENCH_NAIVE_TASK_QUEUE"]),
        )


async def run_bounded(lifecycle: Lifecycle, n: int, concurrency: int) -> tuple[float, list[str]]:
    """Seconds to complete `n` lifecycles with at most `concurrency` in flight; their ids."""
    remaining = iter(range(n))
    done: list[str] = []

    async def lane() -> None:
        for _ in remaining:
            done.append(await lifecycle())

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(min(concurrency, n))))
    return time.perf_counter() - started, done


async def warm_up(lifecycles: Iterable[Lifecycle], concurrency: int) -> None:
    """One untimed round of each (imports, sandbox, connection pools) before timing."""
    for lifecycle in lifecycles:
        await run_bounded(lifecycle, concurrency, concurrency)


async def sampled_breakdown(client: Client, workflow_ids: list[str]) -> dict[str, float]:
    """Where the time of a few of these lifecycles went, by their histories."""
    sample = workflow_ids[:: max(1, len(workflow_ids) // TIMELINE_SAMPLE)][:TIMELINE_SAMPLE]
    histories = [
        (await client.get_workflow_handle(workflow_id).fetch_history()).events
        for workflow_id in sample
    ]
    return median_breakdown(histories)


def _per_lifecycle(cpu_seconds: dict[str, float], n: int) -> dict[str, float]:
    per = {name: round(seconds * 1000 / n, 2) for name, seconds in cpu_seconds.items()}
    return {**per, "total": round(sum(per.values()), 2)}


async def derive_plan(api: ApiLifecycle, client: Client) -> LifecyclePlan:
    """The skeleton's plan, read from the history of one real consultation just driven."""
    consultation_id = await api()
    history = await client.get_workflow_handle(
        consultation_workflow_id(consultation_id)
    ).fetch_history()
    plan = plan_from_history(history.events)
    if not plan.steps or plan.activity_count == 0:
        raise RuntimeError("no updates or activities found in the consultation's history")
    return plan


async def measure_async(
    stack: Stack, n: int, repeats: int, concurrency: int, task_queue: str
) -> dict[str, Any]:
    async with open_drivers(stack, concurrency) as drivers:
        client, api, naive = drivers.client, drivers.api, drivers.naive
        plan = await derive_plan(api, client)
        skeleton = SkeletonLifecycle(client, plan, task_queue)
        await warm_up((api, skeleton, naive), min(n, concurrency))
        meter = CpuMeter(stack.processes.pids, stack.database)
        runs: list[dict[str, Any]] = []
        for run in range(1, repeats + 1):
            progress(f"lifecycle run {run}/{repeats}: {n} through the API")
            before = meter.reading()
            api_seconds, api_ids = await run_bounded(api, n, concurrency)
            api_cpu, before = meter.since(before), meter.reading()
            progress(f"lifecycle run {run}/{repeats}: {n} skeletons")
            skeleton_seconds, skeleton_ids = await run_bounded(skeleton, n, concurrency)
            skeleton_cpu, before = meter.since(before), meter.reading()
            progress(f"lifecycle run {run}/{repeats}: {n} naive anchors")
            naive_seconds, _ = await run_bounded(naive, n, concurrency)
            naive_cpu = meter.since(before)
            api_cpu_ms = _per_lifecycle(api_cpu, n)
            skeleton_cpu_ms = _per_lifecycle(skeleton_cpu, n)
            runs.append(
                {
                    "api_per_s": n / api_seconds,
                    "skeleton_per_s": n / skeleton_seconds,
                    "naive_per_s": n / naive_seconds,
                    "ratio": skeleton_seconds / api_seconds,
                    "naive_ratio": naive_seconds / api_seconds,
                    "cpu_ratio": api_cpu_ms["total"] / skeleton_cpu_ms["total"],
                    "api_cpu_ms": api_cpu_ms,
                    "skeleton_cpu_ms": skeleton_cpu_ms,
                    "naive_cpu_ms": _per_lifecycle(naive_cpu, n),
                    "api_timeline": await sampled_breakdown(
                        client, [consultation_workflow_id(i) for i in api_ids]
                    ),
                    "skeleton_timeline": await sampled_breakdown(client, skeleton_ids),
                }
            )
    return {
        "n": n,
        "concurrency": concurrency,
        "plan": plan.describe(),
        "activities_per_lifecycle": plan.activity_count,
        "runs": runs,
        **{
            key: statistics.median(run[key] for run in runs)
            for key in ("api_per_s", "skeleton_per_s", "naive_per_s", "ratio", "naive_ratio")
        },
        "cpu_ratio": statistics.median(run["cpu_ratio"] for run in runs),
        "api_cpu_total_ms": statistics.median(run["api_cpu_ms"]["total"] for run in runs),
        "skeleton_cpu_total_ms": statistics.median(run["skeleton_cpu_ms"]["total"] for run in runs),
        # The last run's: CPU ms per lifecycle by process; timelines' medians, in ms.
        "api_cpu_ms": runs[-1]["api_cpu_ms"],
        "skeleton_cpu_ms": runs[-1]["skeleton_cpu_ms"],
        "naive_cpu_ms": runs[-1]["naive_cpu_ms"],
        "api_timeline": runs[-1]["api_timeline"],
        "skeleton_timeline": runs[-1]["skeleton_timeline"],
    }


def measure(
    stack: Stack, n: int, repeats: int, concurrency: int = 16, task_queue: str | None = None
) -> dict[str, Any]:
    """Consultations/s through the API and through the skeleton, and their ratio (medians)."""
    queue = task_queue or stack.env["BENCH_SKELETON_TASK_QUEUE"]
    return asyncio.run(measure_async(stack, n, repeats, concurrency, queue))
