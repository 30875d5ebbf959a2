"""docker-compose.yml's way in: the proxy (deploy/proxy/nginx.conf) forwards /v1/ and /codec/
to the API replicas and nothing else, and caps headers and bodies; and the case store allows
the connections of the processes the operator guide sizes it for.

The proxy test runs Debian's nginx (.ci/run installs it when missing) on the shipped file, with
only its upstream, listening port and scratch folder pointed at this test's.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from dev.harness.ports import free_port
from tests.operations.compose_file import (
    ROOT,
    api_serves,
    command,
    connections_per_process,
    published_ports,
    service,
)

NGINX_CONF = ROOT / "deploy" / "proxy" / "nginx.conf"
GUIDE = ROOT / "docs" / "guide-operator.md"
MiB = 2**20


class StandInApi(BaseHTTPRequestHandler):
    """Answers 200 to anything and records what reached it."""

    seen: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        StandInApi.seen.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def proxy() -> Iterator[str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is missing: install Debian's nginx (apt-get install -y nginx)")
    upstream = ThreadingHTTPServer(("127.0.0.1", free_port()), StandInApi)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    # nginx's workers drop to an unprivileged user when started as root: a folder they can use.
    scratch = Path(tempfile.mkdtemp(prefix="econsult-proxy-"))
    scratch.chmod(0o755)
    conf = NGINX_CONF.read_text()
    conf = conf.replace("set $api api:8000;", f"set $api 127.0.0.1:{upstream.server_port};")
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    conf = conf.replace("/tmp/", f"{scratch}/")
    (scratch / "nginx.conf").write_text(conf)
    process = subprocess.Popen(
        [
            nginx,
            "-p",
            str(scratch),
            "-c",
            str(scratch / "nginx.conf"),
            "-e",
            "stderr",
            "-g",
            "daemon off;",
        ],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        upstream.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)


def reached(client: httpx.Client, method: str, path: str, **kwargs: object) -> tuple[int, bool]:
    StandInApi.seen.clear()
    status = client.request(method, path, **kwargs).status_code  # type: ignore[arg-type]
    return status, f"{method} {path}" in StandInApi.seen


def test_the_proxy_forwards_v1_and_codec_only(proxy: str) -> None:
    with httpx.Client(base_url=proxy) as client:
        assert reached(client, "GET", "/v1/inbox") == (200, True)
        assert reached(client, "POST", "/codec/decode", json={"payloads": []}) == (200, True)
        for path in ("/metrics", "/readyz", "/healthz", "/docs", "/redoc", "/openapi.json", "/"):
            assert reached(client, "GET", path) == (404, False), path
    assert api_serves("POST", "/codec/decode") and api_serves("GET", "/v1/inbox")


def test_the_proxy_refuses_more_than_16_kib_of_headers_before_the_api(proxy: str) -> None:
    with httpx.Client(base_url=proxy) as client:
        fits = {f"x-fill-{i}": "a" * 1000 for i in range(13)}
        assert reached(client, "GET", "/v1/inbox", headers=fits) == (200, True)
        too_many = {f"x-fill-{i}": "a" * 1000 for i in range(18)}
        assert reached(client, "GET", "/v1/inbox", headers=too_many) == (400, False)


def test_the_proxy_takes_a_10_mb_upload_and_refuses_a_larger_body(proxy: str) -> None:
    with httpx.Client(base_url=proxy, timeout=30) as client:
        upload = {"file": ("scan.pdf", b"%" * (10 * 10**6), "application/pdf")}
        assert reached(client, "POST", "/v1/attachments", files=upload) == (200, True)
        assert reached(client, "POST", "/v1/attachments", content=b"x" * (12 * MiB)) == (
            413,
            False,
        )


def test_the_proxy_is_the_only_way_in_and_reaches_the_api_by_its_service_name() -> None:
    proxy = service("proxy")
    assert "./deploy/proxy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    listen = re.search(r"listen (\d+);", NGINX_CONF.read_text())
    assert listen and [c for _, c in published_ports("proxy")] == [listen.group(1)]
    upstream = re.search(r"set \$api (\w+):(\d+);", NGINX_CONF.read_text())
    assert upstream and upstream.groups() == ("api", service("api")["expose"][0])
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"


def test_the_case_store_allows_the_connections_the_guide_sizes_it_for() -> None:
    setting = re.search(r"max_connections=(\d+)", " ".join(command("postgresql")))
    sized = re.search(r"allows (\d+) connections: (\d+) app processes", GUIDE.read_text())
    assert setting and sized, "docker-compose.yml and the guide state max_connections"
    assert int(setting.group(1)) == int(sized.group(1))
    per_process = connections_per_process()
    # Plus one migration or reconcile, and PostgreSQL's 3 reserved superuser connections.
    assert (int(sized.group(2)) + 1) * per_process + 3 <= int(setting.group(1))
