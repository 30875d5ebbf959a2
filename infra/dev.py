"""`make run`: the whole service on embedded defaults, stopped together by Ctrl-C.

Temporal dev server (Web UI on :8233, state in .data/), case store migrated, worker and API.
The codec endpoint trusts that Web UI (DEV_CODEC_TRUSTS_LOCAL_UI), so an operator reads
decrypted payloads there without a token.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from infra.codec import new_key_setting
from infra.settings import get_settings
from workflows.search_attributes import dev_server_flags

ROOT = Path(__file__).resolve().parents[1]
# Overridable so a test can run `make run` beside a developer's own.
DATA = Path(os.environ.get("ECONSULT_DEV_DATA", ROOT / ".data"))
BIN = Path(sys.executable).parent


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


def development_key() -> str:
    """A key kept in .data/, so restarted processes still read their running consultations."""
    path = DATA / "dev-encryption-keys"
    if not path.exists():
        path.write_text(new_key_setting("dev-1"))
        path.chmod(0o600)
    return path.read_text().strip()


def main() -> None:
    # SIGTERM (from a supervisor or `timeout`) stops everything the same way as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    settings = get_settings()
    DATA.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("ECONSULT_ENCRYPTION_KEYS", development_key())
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
