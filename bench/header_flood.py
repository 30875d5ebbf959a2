"""What one request with a huge header costs the API process: `python -m bench.header_flood`.

Serves a one-route app in a child process, with uvicorn's plain httptools protocol and with
the API's (api/http_limits.py), sends each one unauthenticated request whose header is 64 MB,
and prints the answer's status and the child's peak memory (VmHWM) before and after. A
figure, not a test: tests/security/test_attacks_http.py asserts the outcome.
"""

from __future__ import annotations

import multiprocessing
import time

from bench.harness_run import rss_mb
from dev.harness.ports import LOOPBACK, free_port, raw_exchange, wait_for_port

FLOOD_MB = 64


def serve(protocol: str, port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    from api.http_limits import BoundedHeadProtocol

    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    http = BoundedHeadProtocol if protocol == "bounded" else "httptools"
    uvicorn.run(app, host=LOOPBACK, port=port, http=http, log_level="error", loop="uvloop")


def flood(port: int) -> bytes:
    """The answer to a GET whose header is FLOOD_MB."""
    start = b"GET /healthz HTTP/1.1\r\nHost: api\r\nX-Flood: "
    megabyte = b"a" * 1024 * 1024
    return raw_exchange((LOOPBACK, port), [start, *[megabyte] * FLOOD_MB, b"\r\n\r\n"])


def measure(protocol: str) -> str:
    port = free_port()
    child = multiprocessing.get_context("spawn").Process(target=serve, args=(protocol, port))
    child.start()
    try:
        wait_for_port(port)
        assert child.pid is not None
        _, before = rss_mb(child.pid)
        started = time.monotonic()
        answer = flood(port)
        seconds = time.monotonic() - started
        _, after = rss_mb(child.pid)
    finally:
        child.terminate()
        child.join()
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "(no answer)"
    return (
        f"{protocol:9} {status:45} peak memory {before:6.1f} -> {after:6.1f} MB "
        f"(+{after - before:.1f}), {seconds:.2f} s"
    )


def main() -> None:
    print(f"one unauthenticated GET /healthz with a {FLOOD_MB} MB header:")
    for protocol in ("httptools", "bounded"):
        print(measure(protocol))


if __name__ == "__main__":
    main()
