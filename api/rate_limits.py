"""Write limits on commands: a token bucket per caller and one per patient, 429 with Retry-After.

The portal is one caller for every patient, so a per-caller limit alone lets one patient's
flood (a stuck retry loop, a script) spend the whole portal's budget; the per-patient bucket
stops that patient and leaves the others their share.

The limiters are in-process: with one API process they bound each caller and patient exactly;
behind a load balancer with N processes each gets up to N times the rate. Deployments with
more than one API instance should put a shared limiter in front (the gateway, or a Redis token
bucket) or divide the rates by N.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from api.problems import Problem


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

    def give_back(self, caller_key: str) -> None:
        """Return the token of a request refused after it was taken (by a narrower limit)."""
        bucket = self._buckets.get(caller_key)
        if bucket is not None:
            bucket.tokens = min(float(self._limit.burst), bucket.tokens + 1)

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


def is_limited(method: str, path: str) -> bool:
    """Whether a `method` request to `path` spends an allowance, so may be answered 429."""
    return method in LIMITED_METHODS and path.startswith("/v1/")


def _rate_limited(wait: float, whose: str) -> Problem:
    return Problem(
        429,
        f"too many commands {whose}; retry after the time in Retry-After",
        kind="rate-limited",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


def enforce_rate_limit(request: Request, caller_key: str) -> None:
    """429 with Retry-After when this caller has used up its commands for now."""
    limiter: CallerRateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or not is_limited(request.method, request.url.path):
        return
    wait = limiter.wait_before(caller_key)
    if wait > 0:
        raise _rate_limited(wait, "from this caller")


@dataclass(frozen=True)
class PatientWriteLimit:
    """The per-patient bucket, taken after the caller's: a command refused here gives the
    caller's token back, so one patient's flood never spends the portal's allowance."""

    callers: CallerRateLimiter
    patients: CallerRateLimiter

    def enforce(self, caller_key: str, subject_key: str) -> None:
        """429 with Retry-After when `subject_key` (a patient's, or a consultation's where the
        patient is not at hand) has used up its commands for now."""
        wait = self.patients.wait_before(subject_key)
        if wait > 0:
            self.callers.give_back(caller_key)
            raise _rate_limited(wait, "for this patient")


def patient_key(patient_id: str) -> str:
    return f"patient:{patient_id}"


def consultation_key(consultation_id: str) -> str:
    return f"consultation:{consultation_id}"
