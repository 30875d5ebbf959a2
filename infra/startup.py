"""Checks a process makes before it serves: a setting that cannot work stops it at start with
one line naming the setting, not a traceback, and not a 500 to the first command."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError
from temporalio.runtime import Runtime

from infra.codec import EncryptionCodec, KeyConfigError
from infra.settings import Settings, get_settings
from infra.telemetry import temporal_runtime


class SettingRefused(ValueError):
    """A setting the process cannot work with; the message names it."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")


def refuse_to_start(process: str, error: Exception) -> SystemExit:
    """Exit status 1 with one line on stderr (SystemExit prints its message there)."""
    return SystemExit(f"{process} refuses to start: {error}")


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
    """What both the API and the worker need."""
    check_encryption_keys(settings)
    check_secrets_dir(settings)


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
