"""`make run` (python -m dev.run) on free ports, and Debian's chromium driven by Playwright.

The stack is the real one an operator gets: the Temporal dev server with its Web UI, the
worker and the API, each its own process, started and stopped by dev.run. Only the ports,
the data folder and the case store file differ, so it runs beside a developer's own.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from dev.harness.ports import answers, free_port, ready_for_commands
from dev.harness.processes import Processes
from infra.settings import Settings
from tests.api.support import Tokens
from tests.ui.support import DevStack

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing that reaches out: no updates, no sync, no background fetches.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
READY_WITHIN_SECONDS = 90.0


def _wait_until_ready(stack: DevStack, processes: Processes) -> None:
    def ready() -> bool:
        return ready_for_commands(stack.api_url) and answers(stack.ui("127.0.0.1"))

    if processes.wait_for(ready, READY_WITHIN_SECONDS):
        return
    if processes.exited():
        raise RuntimeError(f"make run exited: {stack.log.read_text()[-3000:]}")
    raise RuntimeError(f"make run never became ready: {stack.log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    data = tmp_path_factory.mktemp("make-run")
    ui_port, api_port, temporal_port = free_port(), free_port(), free_port()
    secret = secrets.token_urlsafe(32)
    settings = Settings(
        temporal_address=f"127.0.0.1:{temporal_port}",
        api_host="127.0.0.1",
        api_port=api_port,
        temporal_ui_origin=f"http://localhost:{ui_port}",
        database_url=f"sqlite+aiosqlite:///{data}/econsult.db",
        auth_hs256_secret=secret,
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "DEV_CODEC_TRUSTS_LOCAL_UI"},
        "ECONSULT_DEV_DATA": str(data),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "API_HOST": settings.api_host,
        "API_PORT": str(api_port),
        "TEMPORAL_UI_ORIGIN": settings.temporal_ui_origin,
        "DATABASE_URL": settings.database_url,
        "AUTH_HS256_SECRET": secret,
        "WORKER_METRICS_ADDRESS": "",
    }
    env.pop("ECONSULT_ENCRYPTION_KEYS", None)  # make run makes its own development key
    # Ctrl-C's way: dev.run stops its children on SIGTERM; its whole group is killed if not.
    with Processes(data) as processes:
        stack = DevStack(
            ui_port=ui_port,
            api_url=f"http://127.0.0.1:{api_port}",
            temporal_address=settings.temporal_address,
            tokens=Tokens(settings),
            log=processes.log("make-run"),
        )
        processes.start("make-run", [sys.executable, "-m", "dev.run"], env, own_session=True)
        _wait_until_ready(stack, processes)
        yield stack


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
