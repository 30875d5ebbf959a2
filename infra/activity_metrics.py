"""Activity failures and retries by activity type, on the worker's Prometheus endpoint.

Counted through the Temporal runtime's metric meter, so they are served beside the SDK's own
worker metrics (WORKER_METRICS_ADDRESS). Labels are the activity type (with the namespace and
task queue the SDK adds) and, for failures, the error type: never arguments or messages.
A retry is any attempt after the first, so it also counts attempts whose predecessor timed out
or died with its worker, which no failure on this side ever reports.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

FAILURES = "econsult_activity_failures"
RETRIES = "econsult_activity_retries"


class ActivityMetricsInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountingActivityInterceptor(next)


class _CountingActivityInterceptor(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        meter = activity.metric_meter()
        if activity.info().attempt > 1:
            meter.create_counter(RETRIES, "Activity attempts after the first").add(1)
        try:
            return await self.next.execute_activity(input)
        except Exception as error:
            # Cancellation is a BaseException: a cancelled activity has not failed.
            meter.create_counter(FAILURES, "Activity attempts that raised").add(
                1, {"error_type": error_type(error)}
            )
            raise


def error_type(error: BaseException) -> str:
    """The refusal's type for an ApplicationError, else the exception's class name."""
    if isinstance(error, ApplicationError) and error.type:
        return error.type
    return type(error).__name__
