"""`python -m api`: serve the HTTP API on API_HOST:API_PORT, settings from the environment."""

from __future__ import annotations

import asyncio
import logging
import os

import uvicorn

from api.app import create_app
from api.auth import MissingAuthSettings, require_auth_settings
from api.http_limits import BoundedHeadProtocol
from infra.database_access import check_case_store_tls
from infra.logs import configure_logging
from infra.settings import SettingRefused
from infra.startup import (
    check_common,
    exit_at_once,
    refuse_to_start,
    sandbox_or_refuse,
    settings_or_refuse,
)
from infra.telemetry import configure_tracing

PROCESS = "econsult-api"


def main() -> None:
    settings = settings_or_refuse(PROCESS)
    try:
        require_auth_settings(settings)
        # Keys are checked here, not on the first command: the API would start, then answer
        # every command 500.
        check_common(settings)
        asyncio.run(check_case_store_tls(settings))
    except (MissingAuthSettings, SettingRefused) as error:
        raise refuse_to_start(PROCESS, error) from None
    # The one check that needs Temporal at start: elsewhere the API starts without it.
    asyncio.run(sandbox_or_refuse(PROCESS, settings))
    configure_logging(settings.log_level)
    configure_tracing(settings, PROCESS)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        # Named, not "auto": the API never falls back unnoticed to the slower pure-Python pair.
        # httptools, with a cap on the request head (431) that the parser itself lacks.
        loop="uvloop",
        http=BoundedHeadProtocol,
        # Access lines would log paths, and some paths carry a patient id (docs/privacy.md).
        access_log=False,
        # The scheme the client used, from the proxies named here: DPoP proofs are checked
        # against the URL as the client called it (the proxy passes the Host header on).
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # No "server: uvicorn" banner: it tells an attacker which CVEs to try.
        server_header=False,
        log_config=None,
    )


if __name__ == "__main__":
    try:
        main()
    except SystemExit as stopped:
        # A refusal after a Temporal client was made (ECONSULT_SANDBOX's check) must still end
        # in its one line, not in a crash while the interpreter finalizes.
        exit_at_once(stopped.code)
    # uvicorn has drained its requests; skip interpreter finalization, where the Temporal
    # client's native threads can abort the process (temporalio/sdk-python#300).
    logging.shutdown()
    os._exit(0)
