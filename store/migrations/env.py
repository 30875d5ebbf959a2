"""Alembic environment: the URL comes from DATABASE_URL (or -x url=...), never from alembic.ini."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, Engine, create_engine, pool
from sqlalchemy.exc import DBAPIError

# Its tables join Base's metadata when imported: the whole schema, for autogenerate.
import store.request_tables  # noqa: F401
from infra.database_access import check_tls_files, tls_refusal
from infra.settings import SettingRefused, Settings
from store.database import ensure_sqlite_folder, sync_url
from store.tables import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

PROCESS = "alembic"
url = sync_url(context.get_x_argument(as_dictionary=True).get("url") or Settings().database_url)


@contextmanager
def connected(engine: Engine) -> Iterator[Connection]:
    """The connection; a TLS file or handshake that fails it stops with one line naming
    DATABASE_URL, not a traceback."""
    try:
        check_tls_files(url)
        connection = engine.connect()
    except SettingRefused as error:
        raise SystemExit(f"{PROCESS} refuses to run: {error}") from None
    except DBAPIError as error:
        refusal = tls_refusal(error)
        if refusal is None:
            raise
        raise SystemExit(f"{PROCESS} refuses to run: {refusal}") from None
    with connection:
        yield connection


def run_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    ensure_sqlite_folder(url)
    engine = create_engine(url, poolclass=pool.NullPool)
    with connected(engine) as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
