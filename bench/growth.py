"""Inbox query time with 10,000 and with 1,000,000 consultations in PostgreSQL (bulk-loaded),
the counts a `/metrics` scrape makes at each size, and the recipients query with as many
patient relations (bench/recipients.py)."""

from __future__ import annotations

import asyncio
import io
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from bench import recipients
from bench.harness_run import bench_database
from bench.progress import progress
from domain.models import Status
from store.case_reads import ConsultationQueries
from store.database import create_engine, create_session_factory
from store.operations import operational_figures

SCRAPES = 20
HOT_CLINICIAN = "hot-clinician"
HOT_CASES = 500  # the measured clinician's inbox is the same size at every scale
QUERIES = 300
STATUSES = ["awaiting_clinician", "awaiting_patient", "closed"]


def bulk_load(url: str, rows: int) -> None:
    """COPY `rows` consultations spread over many clinicians, HOT_CASES for the measured one."""
    start = datetime(2027, 1, 4, 9, tzinfo=UTC)
    buffer = io.StringIO()
    for n in range(rows):
        recipient = HOT_CLINICIAN if n < HOT_CASES else f"clinician-{n % 2000}"
        status = STATUSES[n % 3]
        due = (start + timedelta(minutes=n)).isoformat() if status != "closed" else r"\N"
        created = (start - timedelta(minutes=n)).isoformat()
        buffer.write(
            f"{uuid.UUID(int=n).hex}\tpatient-{n % 300000}\t{recipient}\t{recipient}\tpractice-1\t"
            f"{status}\t{created}\t{created}\t{due}\t{'t' if n % 7 == 0 else 'f'}\tpending\t1\n"
        )
    buffer.seek(0)
    columns = (
        "id, patient_id, clinician_id, recipient_id, practice_id, status, created_at, "
        "submitted_at, reply_due_at, overdue, copayment_status, revision"
    )
    with psycopg.connect(url.replace("+psycopg", "")) as connection:
        with connection.cursor().copy(f"COPY consultations ({columns}) FROM STDIN") as copy:
            while chunk := buffer.read(1 << 20):
                copy.write(chunk)
        connection.execute("ANALYZE consultations")


async def inbox_query_ms(url: str) -> float:
    engine = create_engine(url)
    queries = ConsultationQueries(create_session_factory(engine))
    timings = []
    for n in range(QUERIES):
        status = Status.AWAITING_CLINICIAN if n % 2 else None
        started = time.perf_counter()
        await queries.inbox(HOT_CLINICIAN, status=status, overdue=None, limit=20, after=None)
        timings.append((time.perf_counter() - started) * 1000)
    await engine.dispose()
    return statistics.median(timings[QUERIES // 10 :])  # first queries warm the pool


async def scrape_counts_ms(url: str) -> float:
    """What a `/metrics` scrape costs the case store (its figures are read per scrape)."""
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    timings = []
    for _ in range(SCRAPES):
        started = time.perf_counter()
        await operational_figures(sessions)
        timings.append((time.perf_counter() - started) * 1000)
    await engine.dispose()
    return statistics.median(timings[1:])


def measure(small: int, large: int, repeats: int = 1) -> dict[str, object]:
    """Median inbox query time at each size (loaded once, queried `repeats` times)."""
    runs: dict[int, list[float]] = {}
    recipient_runs: dict[int, list[float]] = {}
    scrape_runs: dict[int, list[float]] = {}
    for rows in (small, large):
        with bench_database() as url:
            progress(f"growth: loading {rows:,} consultations")
            bulk_load(url, rows)
            progress(f"growth: {repeats} x {QUERIES} inbox queries at {rows:,}")
            runs[rows] = [asyncio.run(inbox_query_ms(url)) for _ in range(repeats)]
            progress(f"growth: {repeats} x {SCRAPES} /metrics counts at {rows:,}")
            scrape_runs[rows] = [asyncio.run(scrape_counts_ms(url)) for _ in range(repeats)]
            progress(f"growth: loading {rows:,} patient relations")
            recipients.bulk_load(url, rows)
            progress(f"growth: {repeats} x {recipients.QUERIES} recipients queries at {rows:,}")
            recipient_runs[rows] = [
                asyncio.run(recipients.recipients_query_ms(url)) for _ in range(repeats)
            ]
    ratios = [big / little for little, big in zip(runs[small], runs[large], strict=True)]
    return {
        "rows_small": small,
        "rows_large": large,
        "inbox_ms_small": statistics.median(runs[small]),
        "inbox_ms_large": statistics.median(runs[large]),
        "ratio": statistics.median(runs[large]) / statistics.median(runs[small]),
        "runs": {"small_ms": runs[small], "large_ms": runs[large], "ratios": ratios},
        "metrics_ms_small": statistics.median(scrape_runs[small]),
        "metrics_ms_large": statistics.median(scrape_runs[large]),
        "metrics_runs": {"small_ms": scrape_runs[small], "large_ms": scrape_runs[large]},
        "recipients_ms_small": statistics.median(recipient_runs[small]),
        "recipients_ms_large": statistics.median(recipient_runs[large]),
        "recipients_runs": {"small_ms": recipient_runs[small], "large_ms": recipient_runs[large]},
    }
