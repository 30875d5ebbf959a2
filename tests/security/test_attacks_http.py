"""Attacks on the HTTP layer itself: request heads too large to hold.

Raw sockets, not an HTTP client: a client library would refuse to send such requests. The API
runs in this event loop, so each exchange runs in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from api.http_limits import LINGER_SECONDS, MAX_HEAD_BYTES
from dev.harness.ports import raw_exchange
from infra.settings import Settings
from tests.api.support import api_serving

MB = 1024 * 1024
TIMEOUT = LINGER_SECONDS + 30


@pytest.fixture(scope="module")
async def address(sqlite_url: str) -> AsyncIterator[tuple[str, int]]:
    """The API as `python -m api` serves it, without a worker: no request here needs one."""
    async with api_serving(Settings(database_url=sqlite_url)) as base_url:
        parts = urlsplit(base_url)
        assert parts.hostname is not None and parts.port is not None
        yield parts.hostname, parts.port


def head(path: str, *headers: bytes) -> bytes:
    lines = [f"GET {path} HTTP/1.1".encode(), b"Host: api", b"Connection: close", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def padded_to(size: int, path: str = "/healthz") -> bytes:
    """A request head of exactly `size` bytes (one padding header makes up the rest)."""
    bare = head(path, b"X-Pad: ")
    return head(path, b"X-Pad: " + b"a" * (size - len(bare)))


def exchange(address: tuple[str, int], chunks: list[bytes] | bytes) -> bytes:
    return raw_exchange(address, [chunks] if isinstance(chunks, bytes) else chunks, TIMEOUT)


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


async def test_an_unauthenticated_64_mb_header_is_refused_with_431(
    address: tuple[str, int],
) -> None:
    start = b"GET /v1/inbox HTTP/1.1\r\nHost: api\r\nX-Flood: "
    answer = await asyncio.to_thread(exchange, address, [start, *[b"a" * MB] * 64])
    assert status_of(answer) == 431
    assert b"application/problem+json" in answer


async def test_many_small_headers_summing_over_16_kib_are_refused_with_431(
    address: tuple[str, int],
) -> None:
    headers = [f"X-H{i}: {'b' * 40}".encode() for i in range(400)]
    answer = await asyncio.to_thread(exchange, address, head("/healthz", *headers))
    assert status_of(answer) == 431


async def test_a_long_request_line_counts_towards_the_limit(address: tuple[str, int]) -> None:
    answer = await asyncio.to_thread(exchange, address, head("/healthz?" + "q" * MAX_HEAD_BYTES))
    assert status_of(answer) == 431


async def test_a_request_head_of_exactly_16_kib_is_served(address: tuple[str, int]) -> None:
    request = padded_to(MAX_HEAD_BYTES)
    assert len(request) == MAX_HEAD_BYTES
    answer = await asyncio.to_thread(exchange, address, request)
    assert status_of(answer) == 200


async def test_one_byte_over_16_kib_is_refused_with_431(address: tuple[str, int]) -> None:
    answer = await asyncio.to_thread(exchange, address, padded_to(MAX_HEAD_BYTES + 1))
    assert status_of(answer) == 431


async def test_a_head_sent_a_byte_at_a_time_is_counted_across_reads(
    address: tuple[str, int],
) -> None:
    request = padded_to(MAX_HEAD_BYTES + 100)
    pieces = [request[:100], *[request[i : i + 1000] for i in range(100, len(request), 1000)]]
    answer = await asyncio.to_thread(exchange, address, pieces)
    assert status_of(answer) == 431


async def test_a_large_body_after_a_small_head_is_not_counted_as_head(
    address: tuple[str, int],
) -> None:
    body = b"x" * (4 * MAX_HEAD_BYTES)
    request = (
        b"POST /v1/consultations HTTP/1.1\r\nHost: api\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    answer = await asyncio.to_thread(exchange, address, request + body)
    # Past the head: the request reaches the app, which refuses the body or asks for a token.
    assert status_of(answer) in (401, 422)


async def test_keep_alive_requests_each_get_their_own_allowance(
    address: tuple[str, int],
) -> None:
    keep = padded_to(MAX_HEAD_BYTES - 100).replace(b"Connection: close", b"Connection: keep")
    last = padded_to(MAX_HEAD_BYTES - 100)
    answer = await asyncio.to_thread(exchange, address, [keep, keep, last])
    assert answer.count(b"HTTP/1.1 200 OK") == 3
