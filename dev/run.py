"""`make run`: the whole service on embedded defaults, stopped together by Ctrl-C.

Temporal dev server (Web UI on :8233, state in .data/), case store migrated, worker and API.
The codec endpoint trusts that Web UI (DEV_CODEC_TRUSTS_LOCAL_UI), so an operator reads
decrypted payloads there without a token.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from dev.harness.ports import wait_for_port
from dev.harness.processes import (
    BIN,
    ROOT,
    Processes,
    stopped_by_ctrl_c,
    temporal_dev_server,
)
from infra.codec import new_key_setting
from infra.settings import get_settings

# Overridable so a test can run `make run` beside a developer's own.
DATA = Path(os.environ.get("ECONSULT_DEV_DATA", ROOT / ".data"))
# The development token secret; `python -m dev.token` signs with it.
DEV_AUTH_SECRET_FILE = DATA / "dev-auth-secret"


def _kept_in_data(path: Path, new_value: Callable[[], str]) -> str:
    """The value in `path`, written first (readable by its owner only) if it is not there."""
    if not path.exists():
        # Created with owner-only permissions, so the secret is never readable by others.
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(new_value())
    return path.read_text().strip()


def development_key() -> str:
    """A key kept in .data/, so restarted processes still read their running consultations."""
    return _kept_in_data(DATA / "dev-encryption-keys", lambda: new_key_setting("dev-1"))


def development_auth_secret() -> str:
    """A token secret kept in .data/, so development tokens outlive a restart."""
    return _kept_in_data(DEV_AUTH_SECRET_FILE, lambda: secrets.token_hex(32))


def main() -> None:
    settings = get_settings()
    DATA.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("ECONSULT_ENCRYPTION_KEYS", development_key())
    env.setdefault("AUTH_HS256_SECRET", development_auth_secret())
    # The UI's port is the one the API's CORS rule allows (TEMPORAL_UI_ORIGIN, :8233).
    ui_port = urlsplit(settings.temporal_ui_origin).port or 8233
    env["DEV_CODEC_TRUSTS_LOCAL_UI"] = "true"
    # Children write to this terminal; Ctrl-C (or SIGTERM) stops them all, in reverse order.
    with Processes(DATA, stop_within=40) as processes, stopped_by_ctrl_c():

        def start(name: str, command: list[str]) -> None:
            print("starting:", " ".join(command[:3]), flush=True)
            processes.start(name, command, env, logged=False)

        api_url = f"http://{settings.api_host}:{settings.api_port}"
        # The UI asks the API's codec endpoint to decrypt (which trusts this UI, see above).
        start(
            "temporal",
            temporal_dev_server(
                settings.temporal_address,
                db_file=DATA / "temporal.db",
                ui_port=ui_port,
                codec_endpoint=f"{api_url}/codec",
                log_level="warn",
            ),
        )
        wait_for_port(settings.temporal_address)
        subprocess.run([str(BIN / "alembic"), "upgrade", "head"], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "-m", "dev.demo_directory"], cwd=ROOT, env=env, check=True)
        start("worker", [sys.executable, "worker.py"])
        if (ROOT / "api" / "__main__.py").exists():
            start("api", [sys.executable, "-m", "api"])
        print(f"Temporal UI: http://localhost:{ui_port}  (Ctrl-C stops everything)", flush=True)
        processes.serve_until_one_exits()


if __name__ == "__main__":
    main()
