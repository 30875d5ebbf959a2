"""Debian's nginx in front of a Temporal dev server, as a hardened cluster or Temporal Cloud
looks to a client: TLS terminated with the test's certificates, one port that demands a client
certificate (mutual TLS), one that demands an API key as a bearer token.

nginx runs as a child of the test with its own configuration, prefix and pid file in a
temporary folder, on free ports; the machine's nginx service is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dev.harness.ports import LOOPBACK, free_port, wait_for_port
from tests.operations.certificates import Authority, Pair

# Above the server's long poll (about 70 s): a worker's idle poll must not be cut by the proxy.
GRPC_TIMEOUT = "300s"

CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    grpc_read_timeout {timeout};
    grpc_send_timeout {timeout};
    ssl_certificate {server_cert};
    ssl_certificate_key {server_key};
    map $http_authorization $api_key_accepted {{
        "Bearer {api_key}" 1;
        default 0;
    }}
    server {{
        listen {host}:{mtls_port} ssl http2;
        ssl_client_certificate {ca};
        ssl_verify_client on;
        location / {{ grpc_pass grpc://{upstream}; }}
    }}
    server {{
        listen {host}:{api_key_port} ssl http2;
        location / {{
            if ($api_key_accepted = 0) {{ return 401; }}
            grpc_pass grpc://{upstream};
        }}
    }}
}}
"""


@dataclass(frozen=True)
class TlsFrontend:
    """Where clients connect, and the material a client needs."""

    mtls_address: str
    api_key_address: str
    ca: Path
    client: Pair
    api_key: str
    error_log: Path


@contextmanager
def nginx_in_front_of(
    upstream: str, authority: Authority, folder: Path, api_key: str
) -> Iterator[TlsFrontend]:
    """nginx terminating TLS for `upstream` (host:port of plain gRPC) until the block ends."""
    nginx_binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    # Without it these tests fail, they never skip: .ci/run installs Debian's nginx.
    assert nginx_binary, "nginx is missing: install Debian's nginx package (apt-get install nginx)"
    folder.mkdir(parents=True, exist_ok=True)
    server = authority.server("temporal-frontend")
    mtls_port, api_key_port = free_port(), free_port()
    config = folder / "nginx.conf"
    config.write_text(
        CONFIG.format(
            folder=folder,
            timeout=GRPC_TIMEOUT,
            server_cert=server.cert,
            server_key=server.key,
            ca=authority.ca_file,
            api_key=api_key,
            host=LOOPBACK,
            mtls_port=mtls_port,
            api_key_port=api_key_port,
            upstream=upstream,
        )
    )
    error_log = folder / "error.log"
    with (folder / "nginx.out").open("wb") as output:
        nginx = subprocess.Popen(
            [nginx_binary, "-p", str(folder), "-c", str(config), "-e", str(error_log)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        for port in (mtls_port, api_key_port):
            _wait(nginx, port, folder)
        yield TlsFrontend(
            mtls_address=f"{LOOPBACK}:{mtls_port}",
            api_key_address=f"{LOOPBACK}:{api_key_port}",
            ca=authority.ca_file,
            client=authority.client("econsult-client", "econsult-worker"),
            api_key=api_key,
            error_log=error_log,
        )
    finally:
        nginx.terminate()
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()


def _wait(nginx: subprocess.Popen[bytes], port: int, folder: Path) -> None:
    deadline = time.monotonic() + 10
    while nginx.poll() is None and time.monotonic() < deadline:
        try:
            wait_for_port(port, timeout=0.5)
            return
        except RuntimeError:
            continue
    output = (folder / "nginx.out").read_text(errors="replace")
    raise RuntimeError(f"nginx did not listen on {port}: {output}")
