"""Whether a worker polls the consultation task queue: a metric and a note in /readyz.

No worker is not a reason to take the API out of rotation: reads keep working, commands
answer 503 with Retry-After. Ops are told by `econsult_workers_polling` (alert when it is 0).

The server lists a poller with the time its latest poll began, and a poll that finds no work
waits about a minute, so a worker counts as polling when seen within WORKER_SEEN_WITHIN.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import Gauge
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from api.commands import TemporalConnection

WORKER_SEEN_WITHIN = timedelta(seconds=90)
SAMPLE_MAX_AGE_SECONDS = 10.0
DESCRIBE_TIMEOUT = timedelta(seconds=3)

WORKERS_POLLING = Gauge(
    "econsult_workers_polling",
    "Workers seen polling the task queue for workflow tasks within the last 90 s "
    "(-1: Temporal did not answer)",
    ["task_queue"],
)


class WorkerPresence:
    """Counts the task queue's pollers, at most once per SAMPLE_MAX_AGE_SECONDS."""

    def __init__(self, temporal: TemporalConnection, task_queue: str) -> None:
        self._temporal = temporal
        self._task_queue = task_queue
        self._sampled: tuple[float, int] | None = None
        self._lock = asyncio.Lock()

    async def polling(self) -> int:
        """Workers seen polling recently; raises when Temporal does not answer."""
        async with self._lock:
            if self._sampled and time.monotonic() - self._sampled[0] < SAMPLE_MAX_AGE_SECONDS:
                return self._sampled[1]
            try:
                count = await self._count()
            except Exception:
                WORKERS_POLLING.labels(self._task_queue).set(-1)
                raise
            WORKERS_POLLING.labels(self._task_queue).set(count)
            self._sampled = (time.monotonic(), count)
            return count

    async def _count(self) -> int:
        client = await self._temporal.client()
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(
                    name=self._task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
                ),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=DESCRIBE_TIMEOUT,
        )
        seen_after = datetime.now(UTC) - WORKER_SEEN_WITHIN
        return sum(
            1
            for poller in described.pollers
            if poller.last_access_time.ToDatetime(tzinfo=UTC) >= seen_after
        )
