"""Write limits on commands: a token bucket per caller and one per patient, 429 with Retry-After.

The portal is one caller for every patient, so a per-caller limit alone lets one patient's
flood (a stuck retry loop, a script) spend the whole portal's budget; the per-patient bucket
stops that patient and leaves the others their share.

The limiters are in-process: with one API process they bound each caller and patient exactly;
behind a load balancer with N processes each gets up to N times the rate. Deployments with
more than one API instance should put a shared limiter in front (the gateway, or a Redis token
bucket) or divide the rates by N.

Every answer of a limited command says what is left before a 429 comes, in the structured
fields of draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy: "caller";q=100;w=5` (the
bucket holds `q` commands and refills whole in `w` seconds) and `RateLimit: "caller";r=99;t=1`
(`r` left now, full again in `t` seconds); the patient's bucket as `"patient"` on the commands
it limits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from fastapi import Request

from api.problems import Problem


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per caller: `burst` commands at once, then `per_second` on average."""

    per_second: float = 20.0
    burst: int = 100

    @property
    def window(self) -> int:
        """Whole seconds an empty bucket takes to fill: the policy's window `w`."""
        return max(1, math.ceil(self.burst / self.per_second))


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

    @property
    def limit(self) -> RateLimit:
        return self._limit

    def left(self, caller_key: str) -> tuple[int, int]:
        """What `caller_key` has now: (whole commands left, seconds until the bucket is full)."""
        bucket = self._buckets.get(caller_key)
        if bucket is None:
            return self._limit.burst, 0
        tokens = min(
            float(self._limit.burst),
            bucket.tokens + (self._clock() - bucket.updated) * self._limit.per_second,
        )
        full_in = (self._limit.burst - tokens) / self._limit.per_second
        return math.floor(tokens), math.ceil(full_in)

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


CALLER_POLICY = "caller"
PATIENT_POLICY = "patient"


@dataclass(frozen=True)
class _Spent:
    policy: str
    limiter: CallerRateLimiter
    key: str


# The buckets the request being served has taken from; set (to a list the request fills) by
# ContractFieldsMiddleware (api/contract.py) around each request, read when its answer starts.
_SPENT: ContextVar[list[_Spent] | None] = ContextVar("econsult_rate_limits", default=None)


def _spent(policy: str, limiter: CallerRateLimiter, key: str) -> None:
    spent = _SPENT.get()
    if spent is not None:
        spent.append(_Spent(policy, limiter, key))


@contextmanager
def collecting_spent() -> Iterator[list[_Spent]]:
    """The buckets the request run inside takes from, in the order it takes them."""
    spent: list[_Spent] = []
    reset = _SPENT.set(spent)
    try:
        yield spent
    finally:
        _SPENT.reset(reset)


def rate_limit_fields(spent: list[_Spent]) -> dict[str, str]:
    """`RateLimit-Policy` and `RateLimit` for the buckets spent, as they are now (after any
    token given back), or nothing when the request took from none."""
    if not spent:
        return {}
    policies, left = [], []
    # A bucket once, however often the request took from it.
    for item in {item.policy: item for item in spent}.values():
        limit = item.limiter.limit
        remaining, full_in = item.limiter.left(item.key)
        policies.append(f'"{item.policy}";q={limit.burst};w={limit.window}')
        left.append(f'"{item.policy}";r={remaining};t={full_in}')
    return {"RateLimit-Policy": ", ".join(policies), "RateLimit": ", ".join(left)}


def enforce_rate_limit(request: Request, caller_key: str) -> None:
    """429 with Retry-After when this caller has used up its commands for now."""
    limiter: CallerRateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or not is_limited(request.method, request.url.path):
        return
    _spent(CALLER_POLICY, limiter, caller_key)
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
        _spent(PATIENT_POLICY, self.patients, subject_key)
        wait = self.patients.wait_before(subject_key)
        if wait > 0:
            self.callers.give_back(caller_key)
            raise _rate_limited(wait, "for this patient")


def patient_key(patient_id: str) -> str:
    return f"patient:{patient_id}"


def consultation_key(consultation_id: str) -> str:
    return f"consultation:{consultation_id}"
