"""Secrets named by reference: one secret per file, in the practice's own folder
`ECONSULT_SECRETS_DIR/<practice_id>/` (the container convention, as Docker and Kubernetes mount
them). The case store keeps the file's name only; the secret is read where it is used and never
logged, stored or answered.

A reference resolves only inside its practice's folder, after every link is followed: no
practice can name another's file, one at the top of the directory, or one outside it. Links
that stay inside (Kubernetes mounts each file as a link into a `..data` folder beside it) are
followed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from domain.base import is_practice_id

# A plain file name in the directory: no path, no hidden file, so `..` can name nothing outside.
REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_REFERENCE = re.compile(REFERENCE_PATTERN)
WEBHOOK_KEY_PREFIX = "whsec_"
# A secret file holds a key or a password; anything larger is not one.
MAX_SECRET_BYTES = 64 * 1024
# The algorithms HelseID accepts for a client assertion, and the one a key without `alg` gets.
SIGNING_ALGORITHMS = ("RS256", "PS256", "ES256")
_DEFAULT_ALGORITHM = {"RSA": "RS256", "EC": "ES256"}
# NIST SP 800-131A: RSA keys shorter than this sign nothing new.
MIN_RSA_BITS = 2048


class SecretKind(StrEnum):
    """What a referenced file must hold to be accepted."""

    TEXT = "text"
    WEBHOOK_KEY = "webhook_key"
    SIGNING_KEY = "signing_key"


class SecretReferenceError(Exception):
    """A reference that does not resolve; the message names the reference, never a secret."""

    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"secret reference {reference!r}: {reason}")
        self.reference = reference
        self.reason = reason


def _inside(path: str, folder: str) -> bool:
    return path != folder and os.path.commonpath([path, folder]) == folder


class SecretsDirectory:
    """Reads a practice's secrets by file name from its own folder, at each use (a rotated file
    counts)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    def _resolve(self, practice_id: str, reference: str) -> str:
        """The real path of the practice's file `reference`, checked to lie in its folder."""
        if not is_practice_id(practice_id):
            raise SecretReferenceError(reference, "the practice id cannot name a folder")
        if not _REFERENCE.fullmatch(reference):
            raise SecretReferenceError(reference, "not a file name")
        root = os.path.realpath(self._path)
        folder = os.path.realpath(os.path.join(root, practice_id))
        if not _inside(folder, root):
            raise SecretReferenceError(reference, "the practice's folder leads outside")
        if not os.path.isdir(folder):
            raise SecretReferenceError(
                reference, f"no folder {practice_id}/ in ECONSULT_SECRETS_DIR"
            )
        path = os.path.realpath(os.path.join(folder, reference))
        if not _inside(path, folder):
            raise SecretReferenceError(reference, "a link leading out of the practice's folder")
        return path

    def read(self, practice_id: str, reference: str) -> str:
        """The secret in the practice's file `reference`, without surrounding whitespace."""
        path = self._resolve(practice_id, reference)
        try:
            # The resolved path, not followed again: a link put there since is refused.
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(descriptor, "rb") as file:
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

    def webhook_key(self, practice_id: str, reference: str) -> str:
        """A Standard Webhooks signing key (`whsec_` and base64) from the practice's file."""
        key = self.read(practice_id, reference)
        if not is_webhook_key(key):
            raise SecretReferenceError(reference, "not a whsec_ key")
        return key

    def signing_key(self, practice_id: str, reference: str) -> str:
        """A private JWK (RSA, or EC on P-256) from the practice's file, as its JSON text,
        checked to sign with one of SIGNING_ALGORITHMS (`private_signing_key` makes the key)."""
        text = self.read(practice_id, reference)
        private_signing_key(text, reference)
        return text

    def checked(self, practice_id: str, reference: str, kind: SecretKind) -> str:
        """The practice's file `reference`, refused unless it holds a `kind`."""
        readers = {
            SecretKind.TEXT: self.read,
            SecretKind.WEBHOOK_KEY: self.webhook_key,
            SecretKind.SIGNING_KEY: self.signing_key,
        }
        return readers[kind](practice_id, reference)


def private_signing_key(text: str, reference: str) -> jwt.PyJWK:
    """The file's private JWK, or a SecretReferenceError saying what is wrong with it (never
    what it holds)."""
    try:
        members: Any = json.loads(text)
    except ValueError:
        raise SecretReferenceError(reference, "not a JSON Web Key") from None
    if not isinstance(members, dict) or members.get("kty") not in _DEFAULT_ALGORITHM:
        raise SecretReferenceError(reference, "not an RSA or EC JSON Web Key")
    algorithm = members.get("alg", _DEFAULT_ALGORITHM[members["kty"]])
    if algorithm not in SIGNING_ALGORITHMS:
        raise SecretReferenceError(
            reference, f"alg {str(algorithm)[:16]!r} is not RS256, PS256 or ES256"
        )
    try:
        key = jwt.PyJWK(members, algorithm)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise SecretReferenceError(reference, f"not a valid {algorithm} key") from None
    if isinstance(key.key, RSAPrivateKey) and algorithm != "ES256":
        if key.key.key_size < MIN_RSA_BITS:
            raise SecretReferenceError(reference, f"an RSA key under {MIN_RSA_BITS} bits")
        return key
    if isinstance(key.key, EllipticCurvePrivateKey) and algorithm == "ES256":
        if not isinstance(key.key.curve, SECP256R1):
            raise SecretReferenceError(reference, "ES256 needs a key on the P-256 curve")
        return key
    raise SecretReferenceError(reference, "a public key only: the file must hold the private JWK")


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
