"""The sandbox's clock: Temporal's time-skipping test server, asked through its TestService.

The sandbox runs that server with time skipping locked, so its clock runs like a wall clock
and a consultation waits as it would in production; only `advance` moves it forward. While
the clock is advanced, the server fires the timers due on the way in order and holds time
still while the workflow tasks and activities they start run, so every reminder, deadline and
notification due by then has been written and sent when `advance` returns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.empty_pb2 import Empty
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client
from temporalio.service import RPCError

from infra.settings import SettingRefused, Settings

# One advance covers the longest wait a case has (30 days of patient inactivity) twice over.
LONGEST_ADVANCE = timedelta(days=60)


async def current_time(client: Client) -> datetime:
    """The test server's time (UTC)."""
    answer = await client.test_service.get_current_time(Empty())
    return answer.time.ToDatetime(tzinfo=UTC)


async def advance(client: Client, by: timedelta) -> datetime:
    """Move the clock forward by `by`, running what falls due on the way; the new time."""
    request = SleepRequest()
    request.duration.FromTimedelta(by)
    # Unlocks time skipping, skips to now + by (stopping for each timer and the work it
    # starts), and locks it again before answering.
    await client.test_service.unlock_time_skipping_with_sleep(request)
    return await current_time(client)


async def check_time_skipping(client: Client, settings: Settings) -> None:
    """With ECONSULT_SANDBOX, TEMPORAL_ADDRESS must be a time-skipping test server: a real
    server answers the TestService UNIMPLEMENTED, and the sandbox's clock would move nothing."""
    if not settings.econsult_sandbox:
        return
    try:
        await current_time(client)
    except RPCError as error:
        # UNIMPLEMENTED from a real server; whatever else a server answers, its clock cannot
        # be moved either.
        raise SettingRefused(
            "ECONSULT_SANDBOX",
            f"TEMPORAL_ADDRESS {settings.temporal_address} is not Temporal's time-skipping "
            f"test server (its TestService answered {error.status.name}); the sandbox runs "
            "only there",
        ) from None
