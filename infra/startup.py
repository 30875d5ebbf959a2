"""Checks a process makes before it serves: a setting that cannot work stops it at start with
one line naming the setting, not a traceback, and not a 500 to the first command."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.runtime import Runtime

from domain.copayment import CopaymentTable
from infra.codec import EncryptionCodec, KeyConfigError
from infra.sandbox import check_time_skipping
from infra.settings import SettingRefused, Settings, get_settings
from infra.tariffs import load_tariffs
from infra.telemetry import temporal_runtime
from infra.temporal import connect
from infra.temporal_access import connection_failed, temporal_access


def refuse_to_start(process: str, error: Exception) -> SystemExit:
    """Exit status 1 with one line on stderr (SystemExit prints its message there)."""
    return SystemExit(f"{process} refuses to start: {error}")


def exit_at_once(code: int | str | None) -> NoReturn:
    """Exit now, skipping interpreter finalization: once the Temporal client's native threads
    run, they can abort the process there (temporalio/sdk-python#300), and a refusal would end
    in a crash dump instead of its one line. A string is that line (status 1)."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code or 0)


def settings_or_refuse(process: str) -> Settings:
    """The settings, or one line naming the first setting that does not parse."""
    try:
        return get_settings()
    except ValidationError as error:
        first = error.errors()[0]
        setting = "_".join(str(part) for part in first["loc"]).upper() or "settings"
        raise refuse_to_start(process, SettingRefused(setting, first["msg"])) from None


def check_encryption_keys(settings: Settings) -> None:
    try:
        EncryptionCodec.from_setting(settings.econsult_encryption_keys)
    except KeyConfigError as error:
        # The codec's own message may name the setting already ("... is not set").
        reason = str(error).removeprefix("ECONSULT_ENCRYPTION_KEYS ")
        raise SettingRefused("ECONSULT_ENCRYPTION_KEYS", reason) from None


def check_secrets_dir(settings: Settings) -> None:
    """Checked only when set: a directory this process can list and read."""
    if settings.econsult_secrets_dir is None:
        return
    folder = Path(settings.econsult_secrets_dir)
    if not folder.is_dir():
        raise SettingRefused("ECONSULT_SECRETS_DIR", f"{folder} is not a directory")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise SettingRefused("ECONSULT_SECRETS_DIR", f"{folder} is not readable")


def check_common(settings: Settings) -> None:
    """What the API, the worker and reconcile need: keys, secrets, Temporal's TLS files."""
    check_encryption_keys(settings)
    check_secrets_dir(settings)
    temporal_access(settings)


def tariffs_or_refuse(settings: Settings) -> CopaymentTable:
    """The co-payment table in force; a file that cannot be read or does not hold a valid table
    is refused before anything connects."""
    path = settings.econsult_tariffs_file
    try:
        return load_tariffs(path)
    except OSError as error:
        reason = f"{path} cannot be read ({error.strerror})"
        raise SettingRefused("ECONSULT_TARIFFS_FILE", reason) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        reason = f"{path}: {error.error_count()} error(s), first at {where}: {first['msg']}"
        raise SettingRefused("ECONSULT_TARIFFS_FILE", reason) from None
    except ValueError as error:
        raise SettingRefused("ECONSULT_TARIFFS_FILE", f"{path}: {error}") from None


async def connect_or_refuse(
    process: str, settings: Settings, runtime: Runtime | None = None
) -> Client:
    """The Temporal client, or one line naming the setting to fix (a refused TLS handshake or
    key, or TEMPORAL_ADDRESS when nothing answers)."""
    try:
        return await connect(settings, runtime)
    except SettingRefused as error:
        raise refuse_to_start(process, error) from None
    except RuntimeError as error:
        raise refuse_to_start(process, connection_failed(error, settings)) from None


async def sandbox_or_refuse(process: str, settings: Settings, client: Client | None = None) -> None:
    """With ECONSULT_SANDBOX, refuse to start unless TEMPORAL_ADDRESS answers as Temporal's
    time-skipping test server (connecting first when no client is given)."""
    if not settings.econsult_sandbox:
        return
    client = client or await connect_or_refuse(process, settings)
    try:
        await check_time_skipping(client, settings)
    except SettingRefused as error:
        raise refuse_to_start(process, error) from None


def worker_runtime(settings: Settings) -> Runtime | None:
    """The worker's Temporal runtime, serving metrics on WORKER_METRICS_ADDRESS (if set).

    The runtime binds the address itself, so a taken port is found where it is bound, with no
    window between a check and the bind.
    """
    address = settings.worker_metrics_address
    try:
        return temporal_runtime(address)
    except ValueError as error:
        raise SettingRefused("WORKER_METRICS_ADDRESS", f"{address!r}: {error}") from None
