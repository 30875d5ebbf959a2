"""Free loopback ports, waiting for a server to listen, and uvicorn on a free port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from api.http_limits import BoundedHeadProtocol

LOOPBACK = "127.0.0.1"


class NothingListens(RuntimeError):
    """No server accepted connections at the address in time."""


def free_port() -> int:
    """A port nothing listens on now (the OS's choice), for a server started next."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def wait_for_port(address: str | int, timeout: float = 60.0) -> None:
    """Until something accepts connections at `host:port` (or a loopback port)."""
    host, port = (LOOPBACK, str(address)) if isinstance(address, int) else address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise NothingListens(f"nothing answers on {host}:{port} after {timeout:.0f} s")


def answers(url: str) -> bool:
    """True if a GET of `url` answers 200 (within 5 s)."""
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def ready_for_commands(api_url: str) -> bool:
    """True if the API's /readyz says Temporal answers too: it is 200 while only the case store
    does, and commands need both."""
    try:
        ready = httpx.get(f"{api_url}/readyz", timeout=5)
    except httpx.HTTPError:
        return False
    return ready.status_code == 200 and ready.json()["checks"]["temporal"] == "ok"


def raw_exchange(address: tuple[str, int], parts: Sequence[bytes], timeout: float = 60) -> bytes:
    """Send `parts` over one connection from a thread while reading the answer in this one,
    until the server closes: the answer, whatever the server did with the rest of the request
    (requests no HTTP client would send, for tests and measurements)."""
    with socket.create_connection(address, timeout=timeout) as connection:

        def send() -> None:
            try:
                for part in parts:
                    connection.sendall(part)
            except OSError:
                pass  # the server stopped reading

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        sender.join(timeout=timeout)
        return answer


@asynccontextmanager
async def serving(app: FastAPI, port: int = 0) -> AsyncIterator[str]:
    """uvicorn in this event loop on `port` (0: a free one); yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=LOOPBACK,
            port=port,
            log_level="warning",
            access_log=False,
            # As `python -m api` serves: request heads over 16 KiB are 431.
            http=BoundedHeadProtocol,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{LOOPBACK}:{bound}"
    finally:
        server.should_exit = True
        await task
