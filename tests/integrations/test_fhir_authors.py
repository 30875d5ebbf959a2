"""A journal entry reaches the record system naming who really wrote it, and to whom.

Entries are written to the journal table as the workflow writes them, then forwarded by the
activity to a real FHIR endpoint started by the test (tests/integrations/receivers.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.communication import Communication
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.fhir import ClientCredentials, FhirRecordSystem, RecordSystemActivities
from activities.fhir_resources import (
    HPR_SYSTEM,
    NATIONAL_ID_SYSTEM,
    PRACTICE_SYSTEM,
    ROLE_CODE_SYSTEM,
    FhirSystems,
)
from activities.record_auth import ClientSecretBasic
from dev.harness.ports import serving
from domain.effects import JournalEntryInput, JournalEntryKind, JournalForward
from domain.models import Role
from domain.parties import Representative, RepresentativeRelation
from infra.settings import Settings
from store.attachments import Attachments
from store.journal import JournalTable
from tests.integrations.receivers import FhirServer
from tests.support import NATIONAL_ID, journal_entry

PATIENT = NATIONAL_ID
REPRESENTATIVE = "02026512345"
CLINICIAN = "9144889"
PRACTICE = "practice-legesenteret"
ADMIN_USER = "practice-admin-kari"
SETTINGS = Settings()


@dataclass
class RecordSystem:
    server: FhirServer
    journal: JournalTable
    activities: RecordSystemActivities

    async def forwarded(self, entry: JournalEntryInput) -> dict[str, Any]:
        """Journal the entry, forward it, and answer the resource the server stored."""
        await self.journal.write(entry)
        await ActivityEnvironment().run(
            self.activities.forward_journal_entry, JournalForward(entry_key=entry.entry_key)
        )
        resource = self.server.resources[f"{SETTINGS.fhir_entry_system}|{entry.entry_key}"]
        Communication.model_validate(resource)
        return resource


@pytest.fixture
async def record_system(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[RecordSystem]:
    server = FhirServer()
    async with serving(server.app(), 0) as base_url:
        credentials = ClientCredentials(
            f"{base_url}/token", ClientSecretBasic(server.client_id, server.client_secret), None
        )
        systems = FhirSystems(
            entry=SETTINGS.fhir_entry_system,
            consultation=SETTINGS.fhir_consultation_system,
            attachments_url="https://econsult.example",
        )
        journal = JournalTable(sessions)
        activities = RecordSystemActivities(
            journal,
            Attachments(sessions),
            FhirRecordSystem(f"{base_url}/fhir", credentials),
            systems,
        )
        yield RecordSystem(server, journal, activities)


def entry(kind: JournalEntryKind, role: Role, author_id: str, **fields: Any) -> JournalEntryInput:
    at_practice = {"practice_id": PRACTICE, "recipient_id": CLINICIAN}
    return journal_entry(kind=kind, author_role=role, author_id=author_id, **at_practice | fields)


def practitioner(hpr_number: str) -> dict[str, Any]:
    return {"type": "Practitioner", "identifier": {"system": HPR_SYSTEM, "value": hpr_number}}


def patient(national_id: str) -> dict[str, Any]:
    return {"type": "Patient", "identifier": {"system": NATIONAL_ID_SYSTEM, "value": national_id}}


@pytest.mark.parametrize(
    ("relation", "code"),
    [
        (RepresentativeRelation.PARENT, "PRN"),
        (RepresentativeRelation.GUARDIAN, "GUARD"),
        (RepresentativeRelation.POWER_OF_ATTORNEY, "POWATT"),
        (RepresentativeRelation.NEXT_OF_KIN, "NOK"),
    ],
)
async def test_a_representatives_message_is_sent_by_a_related_person_of_the_patient(
    record_system: RecordSystem, relation: RepresentativeRelation, code: str
) -> None:
    written = entry(
        JournalEntryKind.MESSAGE,
        Role.PATIENT,
        REPRESENTATIVE,
        representative=Representative(id=REPRESENTATIVE, relation=relation),
    )

    resource = await record_system.forwarded(written)

    [related] = resource["contained"]
    assert resource["sender"] == {"type": "RelatedPerson", "reference": f"#{related['id']}"}
    assert related["resourceType"] == "RelatedPerson"
    assert related["identifier"] == [{"system": NATIONAL_ID_SYSTEM, "value": REPRESENTATIVE}]
    assert related["patient"] == patient(PATIENT)
    [coding] = related["relationship"][0]["coding"]
    assert (coding["system"], coding["code"]) == (ROLE_CODE_SYSTEM, code)
    assert resource["subject"] == patient(PATIENT)
    assert resource["recipient"] == [practitioner(CLINICIAN)]


async def test_a_patients_own_message_is_sent_by_the_patient_to_the_clinician(
    record_system: RecordSystem,
) -> None:
    resource = await record_system.forwarded(entry(JournalEntryKind.MESSAGE, Role.PATIENT, PATIENT))

    assert resource["sender"] == patient(PATIENT)
    assert resource["recipient"] == [practitioner(CLINICIAN)]
    assert "contained" not in resource


@pytest.mark.parametrize("kind", [JournalEntryKind.MESSAGE, JournalEntryKind.CLOSE])
async def test_a_clinicians_reply_or_close_is_sent_by_the_practitioner_to_the_patient(
    record_system: RecordSystem, kind: JournalEntryKind
) -> None:
    resource = await record_system.forwarded(entry(kind, Role.CLINICIAN, CLINICIAN))

    assert resource["sender"] == practitioner(CLINICIAN)
    assert resource["recipient"] == [patient(PATIENT)]


async def test_a_reassignment_is_sent_by_the_practice_naming_the_user_who_reassigned(
    record_system: RecordSystem,
) -> None:
    new_recipient = "9144890"
    written = entry(JournalEntryKind.REASSIGN, Role.SYSTEM, ADMIN_USER, recipient_id=new_recipient)

    resource = await record_system.forwarded(written)

    assert resource["sender"] == {
        "type": "Organization",
        "identifier": {"system": PRACTICE_SYSTEM, "value": PRACTICE},
    }
    assert resource["recipient"] == [practitioner(new_recipient)]
    [note] = resource["note"]
    assert note["authorString"] == ADMIN_USER
    assert note["text"] == f"Overført av bruker {ADMIN_USER} på vegne av legekontoret."


async def test_an_automatic_close_is_sent_by_the_service(record_system: RecordSystem) -> None:
    resource = await record_system.forwarded(
        entry(JournalEntryKind.AUTO_CLOSE, Role.SYSTEM, "system")
    )

    assert resource["sender"]["type"] == "Device"
    assert resource["recipient"] == [practitioner(CLINICIAN)]
    assert "note" not in resource


async def test_an_entry_journaled_before_authors_were_recorded_is_sent_as_before(
    record_system: RecordSystem,
) -> None:
    written = entry(
        JournalEntryKind.MESSAGE, Role.PATIENT, PATIENT, practice_id=None, recipient_id=None
    )

    resource = await record_system.forwarded(written)

    assert resource["sender"] == patient(PATIENT)
    assert "recipient" not in resource


def answered(entry: JournalEntryInput) -> list[dict[str, Any]]:
    """`inResponseTo` naming the Communication of `entry` by its identifier."""
    identifier = {"system": SETTINGS.fhir_entry_system, "value": entry.entry_key}
    return [{"type": "Communication", "identifier": identifier}]


def in_thread(
    case: str, minute: int, kind: JournalEntryKind, role: Role, author_id: str, **fields: Any
) -> JournalEntryInput:
    """An entry of consultation `case`, `minute` minutes into the thread."""
    return entry(
        kind,
        role,
        author_id,
        entry_key=f"{kind.value}:{uuid.uuid4().hex}",
        consultation_id=case,
        occurred_at=datetime(2027, 3, 24, 8, minute, tzinfo=UTC),
        **fields,
    )


FROM_PATIENT = (Role.PATIENT, PATIENT)
FROM_CLINICIAN = (Role.CLINICIAN, CLINICIAN)


def messages(*senders: tuple[Role, str]) -> list[JournalEntryInput]:
    """The messages of a new consultation, one a minute, each from the sender given."""
    case = f"case-{uuid.uuid4().hex}"
    return [
        in_thread(case, minute, JournalEntryKind.MESSAGE, role, author_id)
        for minute, (role, author_id) in enumerate(senders)
    ]


async def test_a_clinicians_reply_links_the_latest_message_the_patient_side_wrote_before_it(
    record_system: RecordSystem,
) -> None:
    case = f"case-{uuid.uuid4().hex}"
    first = in_thread(case, 0, JournalEntryKind.MESSAGE, Role.PATIENT, PATIENT)
    by_representative = in_thread(
        case,
        1,
        JournalEntryKind.MESSAGE,
        Role.PATIENT,
        REPRESENTATIVE,
        representative=Representative(id=REPRESENTATIVE, relation=RepresentativeRelation.PARENT),
    )
    reply = in_thread(case, 2, JournalEntryKind.MESSAGE, Role.CLINICIAN, CLINICIAN)

    sent = [await record_system.forwarded(e) for e in (first, by_representative, reply)]

    assert "inResponseTo" not in sent[0]
    assert "inResponseTo" not in sent[1]
    assert sent[2]["inResponseTo"] == answered(by_representative)


async def test_a_patients_follow_up_links_the_clinicians_reply_it_answers(
    record_system: RecordSystem,
) -> None:
    question, clarifying, answer, follow_up = messages(
        FROM_PATIENT, FROM_CLINICIAN, FROM_CLINICIAN, FROM_PATIENT
    )
    for written in (question, clarifying, answer):
        await record_system.forwarded(written)

    resource = await record_system.forwarded(follow_up)

    assert resource["inResponseTo"] == answered(answer)


async def test_the_link_follows_when_entries_happened_not_when_they_were_forwarded(
    record_system: RecordSystem,
) -> None:
    question, reply, follow_up = messages(FROM_PATIENT, FROM_CLINICIAN, FROM_PATIENT)
    # Journaled in order; the reply reaches the record system last (its first tries failed).
    for written in (question, reply, follow_up):
        await record_system.journal.write(written)

    later = [await record_system.forwarded(e) for e in (follow_up, question, reply)]

    assert later[0]["inResponseTo"] == answered(reply)
    assert later[2]["inResponseTo"] == answered(question)


@pytest.mark.parametrize(
    ("kind", "role", "author_id"),
    [
        (JournalEntryKind.CLOSE, Role.CLINICIAN, CLINICIAN),
        (JournalEntryKind.WITHDRAW, Role.PATIENT, PATIENT),
        (JournalEntryKind.AUTO_CLOSE, Role.SYSTEM, "econsult"),
        (JournalEntryKind.REASSIGN, Role.SYSTEM, ADMIN_USER),
    ],
)
async def test_an_entry_that_is_not_a_message_answers_nothing(
    record_system: RecordSystem, kind: JournalEntryKind, role: Role, author_id: str
) -> None:
    question, reply = messages(FROM_PATIENT, FROM_CLINICIAN)
    for written in (question, reply):
        await record_system.forwarded(written)

    resource = await record_system.forwarded(
        in_thread(question.consultation_id, 2, kind, role, author_id)
    )

    assert "inResponseTo" not in resource
