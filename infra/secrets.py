"""Secrets named by reference: one secret per file in ECONSULT_SECRETS_DIR (the container
convention, as Docker and Kubernetes mount them). The case store keeps the file's name only;
the secret is read where it is used and never logged, stored or answered.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

# A plain file name in the directory: no path, no hidden file, so `..` can name nothing outside.
REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_REFERENCE = re.compile(REFERENCE_PATTERN)
WEBHOOK_KEY_PREFIX = "whsec_"
# A secret file holds a key or a password; anything larger is not one.
MAX_SECRET_BYTES = 64 * 1024


class SecretReferenceError(Exception):
    """A reference that does not resolve; the message names the reference, never a secret."""

    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"secret reference {reference!r}: {reason}")
        self.reference = reference
        self.reason = reason


class SecretsDirectory:
    """Reads secrets by file name from one directory, at each use (a rotated file counts)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    def read(self, reference: str) -> str:
        """The secret in the file `reference`, without surrounding whitespace."""
        if not _REFERENCE.fullmatch(reference):
            raise SecretReferenceError(reference, "not a file name")
        try:
            with (self._path / reference).open("rb") as file:
                data = file.read(MAX_SECRET_BYTES + 1)
        except FileNotFoundError:
            raise SecretReferenceError(reference, "no such file") from None
        except OSError:
            raise SecretReferenceError(reference, "unreadable") from None
        try:
            secret = data.decode().strip()
        except UnicodeDecodeError:
            raise SecretReferenceError(reference, "not text") from None
        if not secret or len(data) > MAX_SECRET_BYTES:
            raise SecretReferenceError(reference, "empty" if not secret else "too large")
        return secret

    def webhook_key(self, reference: str) -> str:
        """A Standard Webhooks signing key (`whsec_` and base64) from the file `reference`."""
        key = self.read(reference)
        if not is_webhook_key(key):
            raise SecretReferenceError(reference, "not a whsec_ key")
        return key


def is_webhook_key(key: str) -> bool:
    if not key.startswith(WEBHOOK_KEY_PREFIX):
        return False
    encoded = key.removeprefix(WEBHOOK_KEY_PREFIX)
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        return False
    return bool(decoded)


def secrets_directory(path: str | None) -> SecretsDirectory | None:
    """The directory named by ECONSULT_SECRETS_DIR; None when it is not set."""
    return SecretsDirectory(path) if path else None
