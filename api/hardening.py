"""Defences every answer and every caller gets: security headers, body limits, rate limits.

The rate limiter is in-process: with one API process it bounds each caller exactly; behind a
load balancer with N processes a caller gets up to N times the rate. Deployments with more than
one API instance should put a shared limiter in front (the gateway, or a Redis token bucket).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.docs import DOCS_PAGES
from api.problems import Problem, problem_response

# --- security headers --------------------------------------------------------------------

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# A JSON API has nothing to render: no scripts, no frames.
CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
# The interactive docs run scripts and styles served by this API (api/docs.py), and their own
# inline start-up script and styles; nothing from another origin. ReDoc runs its search in a
# worker made from a blob.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP answer, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (
            DOCS_CONTENT_SECURITY_POLICY if scope["path"] in DOCS_PAGES else CONTENT_SECURITY_POLICY
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- request size ------------------------------------------------------------------------

# A message body is at most 5,000 characters: even escaped as \uXXXX it fits many times over.
JSON_BODY_LIMIT = 64 * 1024
# The Temporal UI sends whole payloads to the codec (the server's own limit is 2 MB each).
CODEC_BODY_LIMIT = 4 * 1024 * 1024
# Uploads stream through their own limit (10 MB, checked while parsing): not buffered here.
STREAMED_PATHS = frozenset({"/v1/attachments"})


def body_limit_for(path: str) -> int | None:
    """The most bytes a request body to `path` may have; None when the route limits itself."""
    if path in STREAMED_PATHS:
        return None
    if path.startswith("/codec/"):
        return CODEC_BODY_LIMIT
    return JSON_BODY_LIMIT


def too_large(limit: int) -> Problem:
    return Problem(413, f"the request body is larger than {limit} bytes", kind="too-large")


class BodyLimitMiddleware:
    """Refuses bodies over the limit (413) before a handler parses them.

    The body is read up to the limit and replayed to the app, so a client that sends no or a
    false Content-Length cannot get more past it than the limit either.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int | None] = body_limit_for):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope["path"]) if scope["type"] == "http" else None
        if limit is None or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await problem_response(too_large(limit))(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: nothing to answer.
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await problem_response(too_large(limit))(scope, receive, send)
                return
            more = message.get("more_body", False)

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# --- rate limiting -----------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per caller: `burst` commands at once, then `per_second` on average."""

    per_second: float = 20.0
    burst: int = 100


@dataclass
class _Bucket:
    tokens: float
    updated: float


class CallerRateLimiter:
    """In-process token buckets keyed by caller (portal subject or HPR number)."""

    def __init__(
        self,
        limit: RateLimit,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = 10_000,
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._max_callers = max_callers
        self._buckets: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        """How many callers have a bucket now."""
        return len(self._buckets)

    def wait_before(self, caller_key: str) -> float:
        """Take one token for `caller_key`: 0 when admitted, else seconds until one is free."""
        now = self._clock()
        bucket = self._buckets.get(caller_key)
        if bucket is None:
            self._forget_idle_callers(now)
            bucket = self._buckets[caller_key] = _Bucket(float(self._limit.burst), now)
        bucket.tokens = min(
            float(self._limit.burst),
            bucket.tokens + (now - bucket.updated) * self._limit.per_second,
        )
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self._limit.per_second

    def _forget_idle_callers(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: drop those to bound memory.
        if len(self._buckets) < self._max_callers:
            return
        refill = self._limit.burst / self._limit.per_second
        for key in [k for k, b in self._buckets.items() if now - b.updated >= refill]:
            del self._buckets[key]


# Commands (which land in a clinician's inbox or a case) are limited; reads are not.
LIMITED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def enforce_rate_limit(request: Request, caller_key: str) -> None:
    """429 with Retry-After when this caller has used up its commands for now."""
    limiter: CallerRateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if (
        limiter is None
        or request.method not in LIMITED_METHODS
        or not request.url.path.startswith("/v1/")
    ):
        return
    wait = limiter.wait_before(caller_key)
    if wait > 0:
        raise Problem(
            429,
            "too many commands from this caller; retry after the time in Retry-After",
            kind="rate-limited",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
