"""The fault run's count (bench/faults.py): each consultation's effects in the case store, and
for one still short of an effect after the settle window, whether it is late (its workflow
still has work pending, or it arrives within a further bounded window) or lost."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from temporalio.client import Client, WorkflowExecutionStatus

from bench.replicas import ReplicaStack, libpq
from domain.models import consultation_workflow_id
from infra.settings import Settings
from infra.temporal import connect

EXPECTED = {"messages": 4, "journal": 5, "notifications": 5, "charges": 1}
TABLES = {
    "messages": "messages",
    "journal": "journal_entries",
    "notifications": "notifications",
    "charges": "charges",
}
SETTLE_WITHIN_SECONDS = 300.0
# How long a missing effect is given after the settle window before it counts as lost (a
# notification's retries back off to 10 minutes; one delayed by the case store's 40 s away
# comes within about 3).
LATE_WITHIN_SECONDS = 300.0


def log(started: float, line: str) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {line}", flush=True)


def effects(database_url: str, ids: list[str]) -> dict[str, dict[str, int]]:
    """Rows per consultation in each effect table."""
    found = {cid: dict.fromkeys(TABLES, 0) for cid in ids}
    with psycopg.connect(libpq(database_url)) as db:
        for effect, table in TABLES.items():
            rows = db.execute(
                f"SELECT consultation_id, count(*) FROM {table} "  # noqa: S608 - fixed names
                "WHERE consultation_id = ANY(%s) GROUP BY consultation_id",
                (ids,),
            ).fetchall()
            for cid, count in rows:
                found[cid][effect] = int(count)
    return found


def missing(found: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Per consultation short of an effect: how many of each are missing."""
    short = {}
    for cid, counts in found.items():
        gaps = {e: n - counts[e] for e, n in EXPECTED.items() if counts[e] < n}
        if gaps:
            short[cid] = gaps
    return short


def store_figures(database_url: str, ids: list[str]) -> tuple[int, int]:
    """(consultations stored, of those closed)."""
    with psycopg.connect(libpq(database_url)) as db:
        row = db.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'closed') FROM consultations"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def settled(
    database_url: str, ids: list[str], started: float, unchanged_for: float
) -> dict[str, dict[str, int]]:
    """Effects once all are in, or once nothing changed for `unchanged_for` seconds."""
    deadline = time.monotonic() + SETTLE_WITHIN_SECONDS
    last, unchanged_since = effects(database_url, ids), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - unchanged_since < unchanged_for:
        if not missing(last):
            break
        await asyncio.sleep(2)
        current = effects(database_url, ids)
        if current != last:
            last, unchanged_since = current, time.monotonic()
    log(started, f"settled: {len(missing(last))} consultations short of an effect")
    return last


async def pending_work(client: Client, database_url: str, cid: str) -> dict[str, Any]:
    """What is still under way for a consultation: its workflow's status, each pending
    activity (attempt, next attempt, last failure), its unsent outbox rows."""
    handle = client.get_workflow_handle(consultation_workflow_id(cid))
    description = await handle.describe()
    now = datetime.now(UTC)
    activities = []
    for pending in description.raw_description.pending_activities:
        next_attempt = None
        if pending.HasField("next_attempt_schedule_time"):
            at = pending.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
            next_attempt = round((at - now).total_seconds(), 1)
        activities.append(
            {
                "activity": pending.activity_type.name,
                "attempt": pending.attempt,
                "next_attempt_in_s": next_attempt,
                "last_failure": pending.last_failure.message[:160] or None,
            }
        )
    with psycopg.connect(libpq(database_url)) as db:
        row = db.execute(
            "SELECT count(*) FROM notifications WHERE consultation_id = %s AND sent_at IS NULL",
            (cid,),
        ).fetchone()
    status = description.status
    raw = description.raw_description
    return {
        "workflow": status.name if status else "UNKNOWN",
        # A local activity retrying shows only as the workflow task it runs in.
        "workflow_task_pending": raw.HasField("pending_workflow_task"),
        "pending_activities": activities,
        "unsent_notifications": int(row[0]) if row else 0,
    }


def classify(
    short: dict[str, dict[str, int]],
    still: dict[str, dict[str, int]],
    looks: dict[str, dict[str, Any]],
    waited: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Late: arrived within the extra wait, or its workflow still runs with work pending (an
    activity to retry, a workflow task, an outbox row to send). Lost: still missing from a
    finished workflow. Stuck: the workflow runs with nothing pending (counted as lost)."""
    late: dict[str, Any] = {}
    lost: dict[str, Any] = {}
    for cid, gaps in short.items():
        look = looks[cid]
        if cid not in still:
            late[cid] = {"missing": gaps, "arrived_within_s": waited}
        elif look["workflow"] != WorkflowExecutionStatus.RUNNING.name:
            lost[cid] = {"missing": still[cid], "workflow": look}
        elif (
            look["pending_activities"]
            or look.get("workflow_task_pending")
            or look["unsent_notifications"]
        ):
            late[cid] = {"missing": still[cid], "still_pending": look}
        else:
            lost[cid] = {"missing": still[cid], "stuck": True, "workflow": look}
    return late, lost


async def late_or_lost(
    stack: ReplicaStack, found: dict[str, dict[str, int]], started: float
) -> dict[str, Any]:
    """Tell late from lost for every effect still missing after the settle window."""
    short = missing(found)
    if not short:
        return {"late": {}, "lost": {}, "looked_at": {}}
    client = await connect(
        Settings(
            temporal_address=stack.temporal_address,
            econsult_encryption_keys=stack.env["ECONSULT_ENCRYPTION_KEYS"],
        )
    )
    first_look = {cid: await pending_work(client, stack.database_url, cid) for cid in short}
    for cid, look in first_look.items():
        log(started, f"short {cid}: {short[cid]}; {look}")
    ids = list(short)
    deadline = time.monotonic() + LATE_WITHIN_SECONDS
    now_found = effects(stack.database_url, ids)
    while missing(now_found) and time.monotonic() < deadline:
        # Nothing more can come for a consultation whose workflow has completed.
        still = missing(now_found)
        looks = [await pending_work(client, stack.database_url, cid) for cid in still]
        if all(look["workflow"] != WorkflowExecutionStatus.RUNNING.name for look in looks):
            break
        await asyncio.sleep(5)
        now_found = effects(stack.database_url, ids)
    waited = round(time.monotonic() - (deadline - LATE_WITHIN_SECONDS), 1)
    last_look = {cid: await pending_work(client, stack.database_url, cid) for cid in ids}
    # Counted after the look: a workflow seen completed had written all it was going to.
    now_found = effects(stack.database_url, ids)
    late, lost = classify(short, missing(now_found), last_look, waited)
    log(started, f"after {waited} s more: {len(late)} late, {len(lost)} lost")
    return {"late": late, "lost": lost, "looked_at": first_look, "extra_wait_s": waited}


def totals(found: dict[str, dict[str, int]], *, over: bool) -> dict[str, int]:
    """Effects missing (or, `over`, doubled) over all consultations, per effect."""
    return {
        e: sum(max(0, (f[e] - n) if over else (n - f[e])) for f in found.values())
        for e, n in EXPECTED.items()
    }
