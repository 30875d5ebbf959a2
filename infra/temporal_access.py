"""How a process reaches Temporal: TLS, mutual TLS or a Temporal Cloud API key, from files.

The files are read once, at start, so a path that is wrong stops the process with one line
naming its setting. A connection the server (or a proxy in front of it) refuses is named the
same way: the setting an operator has to look at, never a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from temporalio.service import TLSConfig

from infra.settings import SettingRefused, Settings

CA = "TEMPORAL_TLS_CA"
CERT = "TEMPORAL_TLS_CERT"
KEY = "TEMPORAL_TLS_KEY"
SERVER_NAME = "TEMPORAL_TLS_SERVER_NAME"
API_KEY_FILE = "TEMPORAL_API_KEY_FILE"
ADDRESS = "TEMPORAL_ADDRESS"


@dataclass(frozen=True)
class TemporalAccess:
    """What `Client.connect` takes: TLS (off, system roots, or this configuration), API key."""

    tls: TLSConfig | bool
    api_key: str | None


# What each file must hold; a private key's label names its kind ("EC PRIVATE KEY", ...).
_PEM = {
    "certificate": re.compile(rb"-----BEGIN CERTIFICATE-----"),
    "private key": re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}


def _read(setting: str, path: str, pem: str | None = None) -> bytes:
    try:
        content = Path(path).read_bytes()
    except OSError as error:
        raise SettingRefused(setting, f"{path} cannot be read ({error.strerror})") from None
    if pem is not None and not _PEM[pem].search(content):
        raise SettingRefused(setting, f"{path} holds no PEM {pem}")
    return content


def temporal_access(settings: Settings) -> TemporalAccess:
    """The TLS material and API key the settings name, read now; SettingRefused if unusable."""
    if (settings.temporal_tls_cert is None) != (settings.temporal_tls_key is None):
        missing = KEY if settings.temporal_tls_key is None else CERT
        raise SettingRefused(missing, f"is needed with {CERT if missing == KEY else KEY}")
    api_key = None
    if settings.temporal_api_key_file is not None:
        api_key = _read(API_KEY_FILE, settings.temporal_api_key_file).decode().strip()
        if not api_key:
            raise SettingRefused(API_KEY_FILE, f"{settings.temporal_api_key_file} is empty")
    ca = settings.temporal_tls_ca and _read(CA, settings.temporal_tls_ca, "certificate")
    cert = settings.temporal_tls_cert and _read(CERT, settings.temporal_tls_cert, "certificate")
    key = settings.temporal_tls_key and _read(KEY, settings.temporal_tls_key, "private key")
    if ca or cert or settings.temporal_tls_server_name:
        tls: TLSConfig | bool = TLSConfig(
            server_root_ca_cert=ca or None,
            domain=settings.temporal_tls_server_name,
            client_cert=cert or None,
            client_private_key=key or None,
        )
    else:
        # Temporal Cloud takes API keys over TLS only, verified against the system's roots.
        tls = api_key is not None
    return TemporalAccess(tls=tls, api_key=api_key)


# What the SDK's connection error says (its text), and the setting that decides it. Checked
# in order; the first that matches names the setting. A proxy's refusal comes as an HTTP status
# (nginx: 400 without an accepted client certificate, 401 without an accepted key), the
# server's own as a gRPC status or a TLS alert.
_REFUSALS: tuple[tuple[str, str, str], ...] = (
    (
        r"NotValidForName",
        SERVER_NAME,
        "the server's certificate does not carry the name expected",
    ),
    (
        r"received fatal alert|CertificateRequired|No required SSL certificate|status: 400\b",
        CERT,
        "the server refused the TLS handshake: no client certificate it accepts",
    ),
    (
        r"InvalidCertificate|UnknownIssuer|BadSignature",
        CA,
        "the server's certificate is not signed by the CA trusted",
    ),
    (
        r"Unauthenticated|PermissionDenied|status: 40[13]\b",
        API_KEY_FILE,
        "the server refused the credentials",
    ),
    (
        r"InvalidContentType|http2 error|FRAME_SIZE_ERROR|wrong version number",
        CA,
        "TLS is on at one end only (this process and the server disagree on TLS)",
    ),
)


def refused_setting(error: BaseException, settings: Settings) -> SettingRefused | None:
    """The setting to fix when connecting failed because of TLS or credentials; None when the
    failure says nothing of them (Temporal is down or unreachable)."""
    text = str(error)
    for pattern, setting, reason in _REFUSALS:
        if re.search(pattern, text, re.IGNORECASE):
            if setting == API_KEY_FILE and settings.temporal_api_key_file is None:
                setting = CERT
            return SettingRefused(setting, f"Temporal at {settings.temporal_address}: {reason}")
    return None


def connection_failed(error: BaseException, settings: Settings) -> SettingRefused:
    """One line for a process that cannot start without Temporal: the setting to fix."""
    return refused_setting(error, settings) or SettingRefused(
        ADDRESS, f"Temporal at {settings.temporal_address} does not answer"
    )
