"""One Temporal client recipe for the worker, the API, reconcile, the tools and the tests: same
converter, same codec, same TLS and API key (infra/temporal_access.py)."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime

from infra.codec import EncryptionCodec
from infra.settings import Settings
from infra.telemetry import RequestTracingInterceptor
from infra.temporal_access import temporal_access


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, always encrypted: without keys no process may talk to Temporal.

    Failure messages and stack traces are encrypted too: an exception's text can quote a
    payload (an EPJ client echoing the entry it refused), and the server stores them as sent.
    """
    codec = EncryptionCodec.from_setting(settings.econsult_encryption_keys)
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Client with the encrypted converter and tracing (workers built on it inherit both), over
    TLS or with an API key when the settings say so.

    Raises SettingRefused for TLS files that cannot be read, RuntimeError when connecting
    fails (`temporal_access.refused_setting` names the setting behind a refusal)."""
    access = temporal_access(settings)
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=access.tls,
        api_key=access.api_key,
        data_converter=data_converter(settings),
        interceptors=[RequestTracingInterceptor()],
        runtime=runtime,
    )
