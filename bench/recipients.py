"""Recipients query time with many patient relations in PostgreSQL (bulk-loaded).

Every relation points into a directory of 2,000 clinicians (every tenth with a substitute),
with absences and practice closed days, so the measured patient's answer joins all of it.
"""

from __future__ import annotations

import io
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg

from store.database import create_engine, create_session_factory
from store.recipients import Recipients

HOT_PATIENT = "hot-patient"
CLINICIANS = 2000
PRACTICES = 20
QUERIES = 300


def _copy(connection: psycopg.Connection, table: str, columns: str, lines: io.StringIO) -> None:
    lines.seek(0)
    with connection.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        while chunk := lines.read(1 << 20):
            copy.write(chunk)


def bulk_load(url: str, relations: int) -> None:
    """COPY the directory, absences, closed days and `relations` relations (3 are the hot one's)."""
    today = datetime.now(UTC).date()
    stamp = datetime.now(UTC).isoformat()
    clinicians, absences, closed, related = (io.StringIO() for _ in range(4))
    for n in range(CLINICIANS):
        substitute = (
            f"clinician-{(n + 1) % CLINICIANS}\t2000-01-01\t2099-12-31"
            if n % 10 == 0
            else "\\N\t\\N\t\\N"
        )
        clinicians.write(
            f"clinician-{n}\tDr. {n}\tpractice-{n % PRACTICES}\tt\t5\t{substitute}\t{stamp}\n"
        )
        # Past absences: the index must skip them; today's answer does not depend on the season.
        for year in range(2010, 2020):
            absences.write(f"clinician-{n}\t{year}-07-01\t{year}-07-21\n")
        # The hot patient's GP is absent today, so the substitute is joined in.
        if n == 0:
            absences.write(
                f"clinician-0\t{today - timedelta(days=1)}\t{today + timedelta(days=1)}\n"
            )
    for practice in range(PRACTICES):
        for offset in range(1, 60, 7):
            closed.write(f"practice-{practice}\t{today + timedelta(days=offset)}\n")
    for n in range(relations - 3):
        related.write(
            f"patient-{n // 2}\tclinician-{n % CLINICIANS}\t"
            f"{'regular_gp' if n % 2 == 0 else 'treatment'}\t2000-01-01\t\\N\t{stamp}\n"
        )
    for clinician, valid_to in (
        ("clinician-0", r"\N"),
        ("clinician-7", r"\N"),
        ("clinician-9", "2001-01-01"),
    ):
        related.write(f"{HOT_PATIENT}\t{clinician}\ttreatment\t2000-01-01\t{valid_to}\t{stamp}\n")
    with psycopg.connect(url.replace("+psycopg", "")) as connection:
        _copy(
            connection,
            "clinicians",
            "id, name, practice_id, accepts_econsultations, reply_within_working_days, "
            "substitute_id, substitute_valid_from, substitute_valid_to, updated_at",
            clinicians,
        )
        _copy(connection, "clinician_absences", "clinician_id, starts_on, ends_on", absences)
        _copy(connection, "practice_closed_days", "practice_id, day", closed)
        _copy(
            connection,
            "patient_relations",
            "patient_id, clinician_id, kind, valid_from, valid_to, updated_at",
            related,
        )
        for table in (
            "clinicians",
            "clinician_absences",
            "practice_closed_days",
            "patient_relations",
        ):
            connection.execute(f"ANALYZE {table}")


async def recipients_query_ms(url: str) -> float:
    engine = create_engine(url)
    recipients = Recipients(create_session_factory(engine))
    timings = []
    for _ in range(QUERIES):
        started = time.perf_counter()
        found = await recipients.of_patient(HOT_PATIENT, datetime.now(UTC))
        timings.append((time.perf_counter() - started) * 1000)
    await engine.dispose()
    if len(found) != 2 or found[0].substitute is None:
        raise RuntimeError(f"the recipients query answered wrongly: {found}")
    return statistics.median(timings[QUERIES // 10 :])  # first queries warm the pool
