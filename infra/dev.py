"""`make run`: the whole service on embedded defaults, stopped together by Ctrl-C.

Temporal dev server (Web UI on :8233, state in .data/), case store migrated, worker and API.
The codec endpoint trusts that Web UI (DEV_CODEC_TRUSTS_LOCAL_UI), so an operator reads
decrypted payloads there without a token.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from infra.codec import new_key_setting
from infra.settings import get_settings
from workflows.search_attributes import dev_server_flags

ROOT = Path(__file__).resolve().parents[1]
# Overridable so a test can run `make run` beside a developer's own.
DATA = Path(os.environ.get("ECONSULT_DEV_DATA", ROOT / ".data"))
BIN = Path(sys.executable).parent
# The development token secret; `python -m api.dev_token` signs with it.
DEV_AUTH_SECRET_FILE = DATA / "dev-auth-secret"


def wait_for_port(address: str, timeout: float = 60.0) -> None:
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"nothing answers on {address} after {timeout:.0f} s")


def temporal_dev_server(address: str, codec_endpoint: str, ui_port: int) -> list[str]:
    host, port = address.rsplit(":", 1)
    return [
        str(BIN / "temporal"),
        "server",
        "start-dev",
        "--ip",
        host if host != "localhost" else "127.0.0.1",
        "--port",
        port,
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(DATA / "temporal.db"),
        "--log-level",
        "warn",
        # The UI asks the API's codec endpoint to decrypt (which trusts this UI, see main).
        "--ui-codec-endpoint",
        codec_endpoint,
        *dev_server_flags(),
    ]


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


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
    # SIGTERM (from a supervisor or `timeout`) stops everything the same way as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    settings = get_settings()
    DATA.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("ECONSULT_ENCRYPTION_KEYS", development_key())
    env.setdefault("AUTH_HS256_SECRET", development_auth_secret())
    processes: list[subprocess.Popen[bytes]] = []
    # The UI's port is the one the API's CORS rule allows (TEMPORAL_UI_ORIGIN, :8233).
    ui_port = urlsplit(settings.temporal_ui_origin).port or 8233
    env["DEV_CODEC_TRUSTS_LOCAL_UI"] = "true"

    def start(command: list[str]) -> None:
        print("starting:", " ".join(command[:3]), flush=True)
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env))

    try:
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        start(temporal_dev_server(settings.temporal_address, f"{api_url}/codec", ui_port))
        wait_for_port(settings.temporal_address)
        subprocess.run([str(BIN / "alembic"), "upgrade", "head"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [sys.executable, "-m", "store.demo_directory"], cwd=ROOT, env=env, check=True
        )
        start([sys.executable, "worker.py"])
        if (ROOT / "api" / "__main__.py").exists():
            start([sys.executable, "-m", "api"])
        print(f"Temporal UI: http://localhost:{ui_port}  (Ctrl-C stops everything)", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("a process exited; stopping the others", flush=True)
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
