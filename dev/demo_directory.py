"""`make run` seeds a demo clinician and substitute, so a new user can drive a case at once.

Only fills an empty directory; production maintains it through `PUT /v1/clinicians/{id}`.
"""

from __future__ import annotations

import asyncio
from datetime import date

from infra.settings import get_settings
from store.database import create_engine, create_session_factory
from store.directory import Directory, DirectoryEntry, Substitute

DEMO_CLINICIAN = "9100001"
DEMO_SUBSTITUTE = "9100002"


async def seed() -> None:
    engine = create_engine(get_settings().database_url)
    directory = Directory(create_session_factory(engine))
    if await directory.get(DEMO_CLINICIAN) is None:
        await directory.put(
            DirectoryEntry(
                id=DEMO_SUBSTITUTE,
                name="Dr. Demo Vikar",
                practice_id="demo-practice",
                accepts_econsultations=True,
            )
        )
        await directory.put(
            DirectoryEntry(
                id=DEMO_CLINICIAN,
                name="Dr. Demo Fastlege",
                practice_id="demo-practice",
                accepts_econsultations=True,
                reply_within_working_days=5,
                substitute=Substitute(
                    clinician_id=DEMO_SUBSTITUTE,
                    valid_from=date(2099, 7, 1),
                    valid_to=date(2099, 7, 31),
                ),
            )
        )
        print(f"demo directory: clinician {DEMO_CLINICIAN}, substitute {DEMO_SUBSTITUTE}")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(seed())
