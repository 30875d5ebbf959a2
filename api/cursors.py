"""Opaque page cursors: the keyset position of the last item, base64url-encoded JSON."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from api.problems import refused

# The rule a cursor breaks (the list routes document it).
UNKNOWN_CURSOR = "the cursor is not one this API handed out"

Key = TypeVar("Key", bound=BaseModel)


def encode_cursor(key: BaseModel) -> str:
    return base64.urlsafe_b64encode(key.model_dump_json().encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, key_type: type[Key]) -> Key | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return key_type.model_validate(json.loads(raw))
    except (binascii.Error, ValueError, ValidationError) as error:
        raise refused(UNKNOWN_CURSOR) from error
