"""Fault run: consultations through two APIs and two workers while, in turn, the case store,
one of each replica and Temporal go away mid-traffic; then every effect is counted
(bench/fault_effects.py).

`python -m bench.faults` (or `make faults`), about three minutes (up to ten when effects come
late). The production shape runs on loopback (bench/replicas.py): one Temporal dev server on
a database file, one PostgreSQL case store, two API processes, two workers. Each consultation
is driven by a client that spreads its commands over both APIs and sends a failed one
(connection error, timeout, 5xx) again to the other API with the same Idempotency-Key,
waiting Retry-After. Faults, one after
another: the case store's database refuses connections for 40 s (`ALLOW_CONNECTIONS false`,
open connections cut); one API and one worker are killed (SIGKILL) while the other worker is
stopped (SIGSTOP) for 30 s, the killed ones started again after 5 s; the Temporal dev server
is killed and restarted.

Afterwards each consultation must have exactly 4 messages, 5 journal entries, 5
notifications (the settled co-payment's among them) and 1 charge. An effect still missing
after the settle window is looked at again: "late" when it arrives within a further
bounded window or its workflow still runs with the activity pending (a retry scheduled),
"lost" when the workflow has completed without it. Targets: 0 lost, 0 doubled, every 5xx a
503 with Retry-After; the exit status is 1 when one is missed. Figures to stdout and
bench/faults.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.fault_effects import (
    EXPECTED,
    effects,
    late_or_lost,
    log,
    missing,
    settled,
    store_figures,
    totals,
)
from bench.harness_run import compile_bytecode
from bench.replicas import (
    REQUEST_TIMEOUT_SECONDS,
    ReplicaStack,
    SpreadClient,
    Tally,
    lifecycle,
    only_503_with_retry_after,
    replica_stack,
)

RESULTS = Path(__file__).with_name("faults.json")
DATABASE_AWAY_SECONDS = 40.0
REPLICAS_DOWN_SECONDS = 5.0
WORKER_STOPPED_SECONDS = 30.0
TEMPORAL_DOWN_SECONDS = 3.0
BETWEEN_FAULTS_SECONDS = 15.0
SETTLED_WHEN_UNCHANGED_SECONDS = 60.0


@dataclass
class Fault:
    name: str
    injected: float
    restored: float = 0.0


async def inject(stack: ReplicaStack, started: float) -> list[Fault]:
    """The faults, one after another, each while consultations are in flight."""
    faults: list[Fault] = []
    processes = stack.processes
    await asyncio.sleep(10)

    log(started, f"case store: refusing connections for {DATABASE_AWAY_SECONDS:.0f} s")
    fault = Fault(f"case store refuses connections {DATABASE_AWAY_SECONDS:.0f} s", time.monotonic())
    stack.allow_connections(False)
    await asyncio.sleep(DATABASE_AWAY_SECONDS)
    stack.allow_connections(True)
    fault.restored = time.monotonic()
    faults.append(fault)
    log(started, "case store: back")

    await asyncio.sleep(BETWEEN_FAULTS_SECONDS)
    log(started, "api-0 and worker-0: SIGKILL; worker-1: SIGSTOP")
    fault = Fault(
        f"api-0 and worker-0 killed (restarted after {REPLICAS_DOWN_SECONDS:.0f} s), "
        f"worker-1 stopped {WORKER_STOPPED_SECONDS:.0f} s",
        time.monotonic(),
    )
    processes.kill("api-0")
    processes.kill("worker-0")
    processes.pause("worker-1")
    await asyncio.sleep(REPLICAS_DOWN_SECONDS)
    stack.start_api(0)
    stack.start_worker(0)
    log(started, "api-0 and worker-0: restarted")
    await asyncio.sleep(WORKER_STOPPED_SECONDS - REPLICAS_DOWN_SECONDS)
    processes.resume("worker-1")
    fault.restored = time.monotonic()
    faults.append(fault)
    log(started, "worker-1: SIGCONT")

    await asyncio.sleep(BETWEEN_FAULTS_SECONDS)
    log(started, "Temporal: SIGKILL")
    fault = Fault(
        f"Temporal killed, restarted after {TEMPORAL_DOWN_SECONDS:.0f} s", time.monotonic()
    )
    processes.kill("temporal")
    await asyncio.sleep(TEMPORAL_DOWN_SECONDS)
    stack.start_temporal()
    fault.restored = time.monotonic()
    faults.append(fault)
    log(started, "Temporal: restarted")
    return faults


def recovery(
    faults: list[Fault], tally: Tally, started: float, ended: float
) -> list[dict[str, Any]]:
    """Per fault, from the attempts the clients made between it and the next: how many failed,
    how many were answered while it lasted, how long after the service was put back the
    clients still saw failures (0: none after it was put back), and when the first answer
    after it came."""
    figures = []
    for n, fault in enumerate(faults):
        until = faults[n + 1].injected if n + 1 < len(faults) else ended
        window = [a for a in tally.attempts if fault.injected <= a.sent < until]
        failed = [a for a in window if not a.ok]
        last_failure = max((a.answered for a in failed), default=fault.restored)
        first_answer = min(
            (a.answered for a in window if a.ok and a.answered >= fault.restored), default=None
        )
        figures.append(
            {
                "fault": fault.name,
                "at_s": round(fault.injected - started, 1),
                "lasted_s": round(fault.restored - fault.injected, 1),
                "attempts": len(window),
                "failed_attempts": len(failed),
                "answered_while_it_lasted": sum(
                    1 for a in window if a.ok and a.answered <= fault.restored
                ),
                "recovered_s": round(max(0.0, last_failure - fault.restored), 1),
                "first_answer_after_restore_s": round(first_answer - fault.restored, 1)
                if first_answer is not None
                else None,
            }
        )
    return figures


async def run(consultations: int, spread_seconds: float, settle: float) -> dict[str, Any]:
    async with replica_stack() as stack:
        started = time.monotonic()
        tally = Tally()
        log(
            started,
            f"{consultations} consultations over {spread_seconds:.0f} s through "
            f"{len(stack.api_urls)} APIs and 2 workers, faults in turn",
        )
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS) as http:
            client = SpreadClient(http, stack.api_urls, tally)
            injected = asyncio.create_task(inject(stack, started))

            async def one(n: int) -> str | None:
                delay = n * spread_seconds / consultations
                await asyncio.sleep(delay)
                return await lifecycle(stack, client, (2.0, 8.0), delay)

            ids = await asyncio.gather(*(one(n) for n in range(consultations)))
            faults = await injected
        traffic_ended = time.monotonic()
        log(started, "traffic done; waiting for the effects to settle")
        created = [cid for cid in ids if cid]
        found = await settled(stack.database_url, created, started, settle)
        after_settle = {"short": missing(found)}
        judged = await late_or_lost(stack, found, started)
        final = effects(stack.database_url, created)
        stored, closed = store_figures(stack.database_url, created)
        lost_ids = set(judged["lost"])
        lost = totals({cid: final[cid] for cid in lost_ids}, over=False)
        late = totals({cid: found[cid] for cid in judged["late"]}, over=False)
        return {
            "shape": "2 APIs, 2 workers, 1 Temporal dev server, 1 PostgreSQL case store",
            "consultations_asked": consultations,
            "consultations_stored": stored,
            "consultations_answered": len(created),
            "consultations_completed": closed,
            "faults": recovery(faults, tally, started, traffic_ended),
            "expected_per_consultation": EXPECTED,
            "lost": lost,
            "late": late,
            "doubled": totals(final, over=True),
            "short_after_settle": after_settle["short"],
            "late_or_lost": judged,
            "server_errors": tally.server_errors,
            "requests_sent": tally.sent,
            "retries": tally.retried,
            "sent_to_the_other_api": tally.failed_over,
            "answers_seen": tally.answers,
            "refused": tally.refused,
            "traffic_seconds": round(traffic_ended - started, 1),
            "seconds": round(time.monotonic() - started, 1),
        }


def verdict(results: dict[str, Any]) -> list[str]:
    """The targets missed (none: the run passed)."""
    missed = []
    if any(results["lost"].values()):
        missed.append(f"effects lost: {results['lost']}")
    if any(results["doubled"].values()):
        missed.append(f"effects doubled: {results['doubled']}")
    if not only_503_with_retry_after(results["server_errors"]):
        missed.append(f"a 5xx other than 503 with Retry-After: {results['server_errors']}")
    if results["consultations_stored"] != results["consultations_asked"]:
        missed.append("not every consultation was stored")
    if results["refused"]:
        missed.append(f"commands refused or given up: {results['refused']}")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consultations", type=int, default=60)
    parser.add_argument(
        "--spread", type=float, default=120.0, help="seconds over which to start them"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=SETTLED_WHEN_UNCHANGED_SECONDS,
        help="settled once the effects have not changed for this long (0: count at once, "
        "which leaves in-flight effects to the late-or-lost check)",
    )
    arguments = parser.parse_args()
    compile_bytecode()
    wall = time.monotonic()
    results = asyncio.run(run(arguments.consultations, arguments.spread, arguments.settle))
    results["settle_seconds"] = arguments.settle
    results["wall_seconds"] = round(time.monotonic() - wall, 1)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    shown = ("answers_seen", "late_or_lost", "short_after_settle")
    print(json.dumps({k: v for k, v in results.items() if k not in shown}, indent=2))
    print("answers seen:", results["answers_seen"])
    missed = verdict(results)
    for line in missed:
        print("TARGET MISSED:", line)
    if not missed:
        print("0 lost, 0 doubled, every 5xx a 503 with Retry-After")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
