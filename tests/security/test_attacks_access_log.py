"""Reads that left no trace before: lists that name consultations, codec decodes, and a record
system's reads without its practice. Each is now in the consultation's access log."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import WorkflowSerializationContext

from domain.models import consultation_workflow_id
from infra.codec import NONCE_BYTES, WORKFLOW_ID, EncryptionCodec, parse_keys
from infra.settings import Settings
from tests.api.support import (
    Api,
    Party,
    create,
    create_body,
    open_case,
    seed_clinicians,
    upload,
)
from tests.support import captured_logs


async def access_log(api: Api, party: Party, cid: str) -> list[tuple[Any, ...]]:
    answer = await api.http.get(f"/v1/consultations/{cid}/access-log", headers=party.service)
    assert answer.status_code == 200, answer.text
    return [
        (entry["actor_id"], entry["role"], entry["action"], entry["practice_id"])
        for entry in answer.json()["entries"]
    ]


async def test_the_inbox_records_who_listed_which_consultations(api: Api, party: Party) -> None:
    cid = await open_case(api, party)
    inbox = await api.http.get("/v1/inbox", headers=party.doctor)
    assert [item["id"] for item in inbox.json()["items"]] == [cid]
    assert (party.clinician, "clinician", "list", None) in await access_log(api, party, cid)


async def test_a_patients_list_records_who_listed_which_consultations(
    api: Api, party: Party
) -> None:
    first = await open_case(api, party)
    second = str((await create(api.http, party))["id"])
    path = f"/v1/patients/{party.patient}/consultations"
    listed = await api.http.get(path, headers=party.service, params={"limit": 1})
    assert [item["id"] for item in listed.json()["items"]] == [second]
    listing = (party.portal, "service", "list", None)
    assert listing in await access_log(api, party, second)
    # Only what the page named: the other consultation was not shown.
    assert listing not in await access_log(api, party, first)


async def test_a_record_systems_read_names_its_practice(api: Api, party: Party) -> None:
    await seed_clinicians(api.http, party)
    attachment = (await upload(api.http, party.service)).json()
    body = {"body": "A photo of it.", "attachment_ids": [attachment["id"]]}
    created = await api.http.post(
        "/v1/consultations", json=create_body(party) | {"message": body}, headers=party.service
    )
    assert created.status_code == 201, created.text
    cid = str(created.json()["id"])
    fetched = await api.http.get(
        f"/v1/attachments/{attachment['id']}", headers=party.record_system(sub="epj-vendor")
    )
    assert fetched.status_code == 200, fetched.text
    entries = await access_log(api, party, cid)
    assert ("epj-vendor", "record-system", "attachment", party.practice) in entries


async def started_payloads(api: Api, cid: str) -> Payloads:
    """The workflow's input as the Temporal server stores it (encrypted), as the UI sends it."""
    history = await api.client.get_workflow_handle(consultation_workflow_id(cid)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return Payloads(payloads=list(started.input.payloads))


async def test_a_codec_decode_records_who_decoded_which_workflow(api: Api, party: Party) -> None:
    cid = await open_case(api, party)
    sealed = await started_payloads(api, cid)
    with captured_logs() as lines:
        decoded = await api.http.post(
            "/codec/decode",
            content=json_format.MessageToJson(sealed),
            headers={**party.admin, "Content-Type": "application/json"},
        )
    assert decoded.status_code == 200, decoded.text
    assert ("ops", "admin", "decode", None) in await access_log(api, party, cid)
    audit = [json.loads(line) for line in lines.getvalue().splitlines()]
    [line] = [entry for entry in audit if entry.get("event") == "codec decode"]
    assert line["workflow_id"] == consultation_workflow_id(cid)


async def test_a_payload_naming_its_workflow_decrypts_as_the_release_before_did() -> None:
    """The name is metadata beside the ciphertext, not associated data: a worker not yet
    upgraded, or a rollback, reads payloads written with it (key id alone authenticated)."""
    setting = Settings().econsult_encryption_keys
    codec = EncryptionCodec.from_setting(setting)
    context = WorkflowSerializationContext(namespace="default", workflow_id="econsultation-a")
    original = Payload(metadata={"encoding": b"json/plain"}, data=b"{}")
    [named] = await codec.with_context(context).encode([original])
    assert named.metadata[WORKFLOW_ID] == b"econsultation-a"
    [(key_id, key)] = parse_keys(setting or "")[:1]
    nonce, sealed = named.data[:NONCE_BYTES], named.data[NONCE_BYTES:]
    plain = AESGCM(key).decrypt(nonce, sealed, key_id.encode())
    assert Payload.FromString(plain) == original
    [unnamed] = await codec.encode([original])
    assert WORKFLOW_ID not in unnamed.metadata
