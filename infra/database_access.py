"""TLS to PostgreSQL: libpq's own parameters in DATABASE_URL's query (`sslmode=verify-full`,
`sslrootcert`, `sslcert`, `sslkey`), which SQLAlchemy hands to psycopg and psycopg to libpq.

A file the URL names that cannot be read, or a server whose certificate (or whose verdict on
ours) refuses the connection, stops a process at start with one line naming DATABASE_URL. A
case store that merely does not answer yet does not: the process starts and waits for it, as
without TLS.
"""

from __future__ import annotations

import asyncio
import os
import re

from sqlalchemy.engine import make_url

from infra.settings import SettingRefused, Settings
from store.case_reads import database_answers
from store.database import create_engine, create_session_factory

SETTING = "DATABASE_URL"
TLS_FILES = ("sslrootcert", "sslcert", "sslkey")
# libpq's own word for "the system's trusted roots", not a file (sslrootcert=system).
SYSTEM_ROOTS = "system"
# A server that does not answer within this is taken as not answering yet, not as refusing.
CHECK_WITHIN_SECONDS = 10.0

# What libpq says when TLS, not reachability, is the trouble: a certificate it cannot verify,
# a server that wants ours, SSL asked for and not offered.
_TLS_TROUBLE = re.compile(r"\bSSL\b|certificate|sslmode|\bTLS\b", re.IGNORECASE)
# ...but not a connection cut on the way (a server restarting), which says SSL too.
_CUT = re.compile(r"SSL SYSCALL|SSL connection has been closed|EOF detected", re.IGNORECASE)


def check_tls_files(url: str) -> None:
    """Each TLS file DATABASE_URL names is there and readable."""
    query = make_url(url).query
    for parameter in TLS_FILES:
        value = query.get(parameter)
        paths = value if isinstance(value, tuple) else (value,)
        for path in paths:
            if path and path != SYSTEM_ROOTS and not os.access(path, os.R_OK):
                raise SettingRefused(SETTING, f"{parameter} {path} cannot be read")


def tls_refusal(error: BaseException) -> SettingRefused | None:
    """DATABASE_URL named as the cause when the driver's error is about TLS; None otherwise."""
    text = str(getattr(error, "orig", None) or error)
    if not _TLS_TROUBLE.search(text) or _CUT.search(text):
        return None
    # libpq's last line is its verdict; it names host and port, never the password.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[-1] if lines else type(error).__name__
    return SettingRefused(SETTING, f"the TLS connection to PostgreSQL failed: {reason}")


async def check_case_store_tls(settings: Settings) -> None:
    """On PostgreSQL with TLS asked for: one connection, refused at start if TLS fails it."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        return
    check_tls_files(settings.database_url)
    if not any(url.query.get(parameter) for parameter in ("sslmode", *TLS_FILES)):
        return
    engine = create_engine(settings.database_url, pool_pre_ping=False)
    try:
        async with asyncio.timeout(CHECK_WITHIN_SECONDS):
            await database_answers(create_session_factory(engine))
    except Exception as error:
        refusal = tls_refusal(error)
        if refusal is not None:
            raise refusal from None
    finally:
        await engine.dispose()
