"""AES-256-GCM payload codec: every workflow and activity payload is encrypted at rest.

`ECONSULT_ENCRYPTION_KEYS` is a comma-separated list of `key_id:base64_key` (32-byte keys);
the first encrypts, all decrypt, so a rotation leaves running consultations readable.

A payload encoded for a workflow (or one of its activities) names that workflow's id in its
metadata, so the codec endpoint's audit can say whose payloads an operator decoded. The id is
not part of the associated data: a release before it (a rollback, a worker not yet upgraded)
decrypts such payloads as it always did. Payloads encoded without a workflow (older ones, the
UI's own) carry no id.
"""

from __future__ import annotations

import base64
import copy
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
WORKFLOW_ID = "econsult-workflow-id"
NONCE_BYTES = 12


class KeyConfigError(ValueError):
    """The key setting is malformed: the process must not start with it."""


class PayloadDecryptionError(ValueError):
    """Tampered ciphertext or an unknown key id."""


def parse_keys(setting: str) -> list[tuple[str, bytes]]:
    keys: list[tuple[str, bytes]] = []
    for item in filter(None, (part.strip() for part in setting.split(","))):
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id:
            raise KeyConfigError("each key must be key_id:base64_key")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError as error:
            raise KeyConfigError(f"key {key_id!r} is not base64") from error
        if len(key) != 32:
            raise KeyConfigError(f"key {key_id!r} must be 32 bytes (AES-256)")
        keys.append((key_id, key))
    if len({key_id for key_id, _ in keys}) != len(keys):
        raise KeyConfigError("key ids must be unique")
    return keys


def new_key_setting(key_id: str) -> str:
    """A fresh `key_id:base64_key` entry (for `make run` and for rotations)."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def workflow_id_of(payload: Payload) -> str | None:
    """The id of the workflow an encrypted payload was encoded for, if it names one."""
    if payload.metadata.get("encoding") != ENCODING or WORKFLOW_ID not in payload.metadata:
        return None
    return payload.metadata[WORKFLOW_ID].decode(errors="replace")


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyConfigError("at least one encryption key is required")
        self._encrypt_id, key = keys[0]
        self._encrypt_with = AESGCM(key)
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys}
        self._workflow_id: bytes | None = None

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """This codec for the payloads of one workflow (or one of its activities)."""
        workflow_id = (
            context.workflow_id
            if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext)
            else None
        )
        bound = copy.copy(self)
        bound._workflow_id = workflow_id.encode() if workflow_id else None
        return bound

    @classmethod
    def from_setting(cls, setting: str | None) -> EncryptionCodec:
        if not setting:
            raise KeyConfigError("ECONSULT_ENCRYPTION_KEYS is not set")
        return cls(parse_keys(setting))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) if p.metadata.get("encoding") == ENCODING else p for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self._encrypt_id.encode()
        # The key id is authenticated too: swapping it makes decryption fail.
        sealed = self._encrypt_with.encrypt(nonce, payload.SerializeToString(), key_id)
        metadata = {"encoding": ENCODING, KEY_ID: key_id}
        if self._workflow_id is not None:
            metadata[WORKFLOW_ID] = self._workflow_id
        return Payload(metadata=metadata, data=nonce + sealed)

    def _decrypt(self, payload: Payload) -> Payload:
        key_id = payload.metadata.get(KEY_ID, b"")
        cipher = self._ciphers.get(key_id.decode())
        if cipher is None:
            raise PayloadDecryptionError(f"unknown encryption key id {key_id.decode()!r}")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id)
        except InvalidTag as error:
            raise PayloadDecryptionError("payload failed authentication") from error
        return Payload.FromString(plain)
