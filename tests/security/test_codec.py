"""AES-256-GCM payload codec: encrypted payloads, key ids, tamper detection, key rotation."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.models import CloseCommand, ReplyCommand, Role, Status
from infra.codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    KeyConfigError,
    PayloadDecryptionError,
    new_key_setting,
)
from infra.settings import Settings
from infra.temporal import data_converter
from tests.support import CLINICIAN, content, new_start, running_worker, seed_directory, start
from workflows.econsultation import EConsultation

OLD = new_key_setting("2026-01")
NEW = new_key_setting("2026-07")


def plain(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


async def test_a_payload_is_encrypted_with_the_first_key_and_names_it() -> None:
    codec = EncryptionCodec.from_setting(f"{NEW},{OLD}")

    [sealed] = await codec.encode([plain(b'{"body": "secret marker"}')])

    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"2026-07"
    assert b"secret marker" not in sealed.data
    assert await codec.decode([sealed]) == [plain(b'{"body": "secret marker"}')]


async def test_a_tampered_ciphertext_is_rejected() -> None:
    codec = EncryptionCodec.from_setting(OLD)
    [sealed] = await codec.encode([plain(b"{}")])
    flipped = bytes([sealed.data[-1] ^ 1])
    tampered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + flipped)

    with pytest.raises(PayloadDecryptionError):
        await codec.decode([tampered])


async def test_a_swapped_key_id_is_rejected() -> None:
    codec = EncryptionCodec.from_setting(f"{NEW},{OLD}")
    [sealed] = await codec.encode([plain(b"{}")])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"2026-01"}, data=sealed.data)

    with pytest.raises(PayloadDecryptionError):
        await codec.decode([relabelled])


async def test_a_payload_from_an_unknown_key_is_rejected() -> None:
    [sealed] = await EncryptionCodec.from_setting(NEW).encode([plain(b"{}")])

    with pytest.raises(PayloadDecryptionError):
        await EncryptionCodec.from_setting(OLD).decode([sealed])


@pytest.mark.parametrize(
    "setting",
    ["", "no-colon", "k1:not-base64!", "k1:" + "A" * 8, f"{OLD},{OLD}"],
)
def test_a_malformed_key_setting_stops_the_process(setting: str) -> None:
    with pytest.raises(KeyConfigError):
        EncryptionCodec.from_setting(setting)


def client_with_keys(env: WorkflowEnvironment, keys: str) -> Client:
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=data_converter(Settings(econsult_encryption_keys=keys)),
    )


async def test_a_key_rotation_leaves_running_consultations_readable_and_completable(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed_directory(sessions)
    before = client_with_keys(dev_env, OLD)
    case = new_start()
    async with running_worker(before, sqlite_url) as task_queue:
        handle = await start(before, task_queue, case)
        await handle.execute_update(EConsultation.opened)

    after = client_with_keys(dev_env, f"{NEW},{OLD}")
    handle = after.get_workflow_handle_for(EConsultation.run, handle.id)
    async with running_worker(after, sqlite_url, task_queue=task_queue):
        await handle.execute_update(
            EConsultation.reply,
            ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
        )
        await handle.execute_update(EConsultation.close, CloseCommand(clinician_id=CLINICIAN))
        result = await handle.result()

    assert result.status == Status.CLOSED
    history = await handle.fetch_history()
    # The start was sealed with the old key; the commands sent after the rotation, the new.
    key_ids = {p.metadata.get(KEY_ID) for event in history.events for p in sealed_inputs(event)}
    assert key_ids == {b"2026-01", b"2026-07"}


def sealed_inputs(event: HistoryEvent) -> list[Payload]:
    """The payloads a client sealed: a start's input, an update's arguments."""
    accepted = event.workflow_execution_update_accepted_event_attributes
    started = event.workflow_execution_started_event_attributes
    return [*started.input.payloads, *accepted.accepted_request.input.args.payloads]
