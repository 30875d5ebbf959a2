"""An example Communication of every journal entry kind, built by the service's own code.

The entries come from domain/entries.py, as the workflow's decisions build them; the resources
from `activities.fhir_resources.communication_for`, as the forwarder sends them. `python -m
dev.fhir_examples` (and `make docs`) writes them to docs/fhir/examples/, one file per kind;
tests/integrations/test_fhir_examples.py checks the committed files are these, that the
adapter sends the same through the journal, and that each meets the profile beside them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from activities.fhir_resources import FhirSystems, communication_for
from domain import entries
from domain.effects import JournalEntryInput, JournalEntryKind
from domain.models import (
    AttachmentRef,
    ConsultationState,
    MessageContent,
    ReassignCommand,
    Role,
    Status,
)
from domain.parties import Patient, Representative, RepresentativeRelation
from infra.settings import Settings
from store.attachments import AttachmentInfo

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "fhir"
EXAMPLES = FOLDER / "examples"

# Synthetic people, practice and times: no real person's number.
PATIENT = Patient(id="01017012345", birth_date=date(1970, 1, 1))
CHILD = Patient(id="15091812345", birth_date=date(2018, 9, 15))
PARENT = Representative(id="02028512345", relation=RepresentativeRelation.PARENT)
CLINICIAN = "9144889"
SUBSTITUTE = "9144890"
PRACTICE = "practice-legesenteret"
PRACTICE_ADMIN = "kari.admin"
SYSTEMS = FhirSystems(
    entry=Settings.model_fields["fhir_entry_system"].default,
    consultation=Settings.model_fields["fhir_consultation_system"].default,
    attachments_url="https://econsult.example",
)
SCAN = b"\x89PNG synthetic scan of a rash"
SCAN_INFO = AttachmentInfo(
    id="a1b2c3d4e5f60718293a4b5c6d7e8f90",
    filename="rash.png",
    content_type="image/png",
    size=len(SCAN),
    sha256=hashlib.sha256(SCAN).hexdigest(),
    uploaded_by=PATIENT.id,
)


@dataclass(frozen=True)
class Example:
    """One entry as journaled, with what it answers and the attachments it links."""

    name: str
    entry: JournalEntryInput
    in_response_to: str | None = None
    attachments: list[AttachmentInfo] = field(default_factory=list)

    def communication(self) -> dict[str, Any]:
        """The resource as the forwarder sends it (its JSON, read back)."""
        resource = communication_for(self.entry, self.attachments, SYSTEMS, self.in_response_to)
        parsed: dict[str, Any] = json.loads(resource.model_dump_json())
        return parsed


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _case(consultation_id: str, patient: Patient) -> ConsultationState:
    return ConsultationState(
        consultation_id=consultation_id,
        patient=patient,
        clinician_id=CLINICIAN,
        recipient_id=CLINICIAN,
        practice_id=PRACTICE,
        reply_within_working_days=5,
        created_at=_at("2026-11-26T09:10:00"),
        status=Status.AWAITING_CLINICIAN,
    )


def _message(
    state: ConsultationState,
    message_id: str,
    role: Role,
    author_id: str,
    body: str,
    at: str,
    *,
    attachments: list[AttachmentInfo] | None = None,
    representative: Representative | None = None,
) -> JournalEntryInput:
    refs = [AttachmentRef(id=a.id, sha256=a.sha256) for a in attachments or []]
    content = MessageContent(body=body, attachments=refs)
    message = entries.message_to_store(
        state, message_id, role, author_id, content, _at(at), representative
    )
    return entries.message_written(state, message)


def _answered(entry: JournalEntryInput, earlier: list[JournalEntryInput]) -> str | None:
    """What the forwarder reads from the journal: the latest message before it by the role
    the entry answers (domain.entries.answered_role)."""
    role = entries.answered_role(entry)
    if role is None:
        return None
    for before in reversed(earlier):
        if before.kind == JournalEntryKind.MESSAGE and before.author_role == role:
            return before.entry_key
    return None


def _thread(*named: tuple[str, JournalEntryInput]) -> list[Example]:
    """Entries of one consultation in the order they happened, each linked to what it answers."""
    thread = [entry for _, entry in named]
    return [
        Example(
            name,
            entry,
            _answered(entry, thread[:index]),
            [SCAN_INFO] if SCAN_INFO.id in entry.attachment_ids else [],
        )
        for index, (name, entry) in enumerate(named)
    ]


def _answered_thread() -> list[Example]:
    """A question with a scan, moved to the substitute, answered, followed up and closed."""
    case = _case("c0ffee00c0ffee00c0ffee00c0ffee00", PATIENT)
    question = _message(
        case,
        "7f3c2a9e4b1d4e0f9a8b6c5d4e3f2a1b",
        Role.PATIENT,
        PATIENT.id,
        "Jeg har hatt utslett på armen i to uker. Bilde vedlagt.",
        "2026-11-26T09:14:03",
        attachments=[SCAN_INFO],
    )
    case.revision, case.recipient_id = 2, SUBSTITUTE
    reassignment = ReassignCommand(
        recipient_id=SUBSTITUTE, reason="Fastlegen har ferie.", by=PRACTICE_ADMIN
    )
    reassigned = entries.reassigned(case, reassignment, CLINICIAN, _at("2026-11-26T10:02:00"))
    case.status = Status.AWAITING_PATIENT
    reply = _message(
        case,
        "1d0c5e7a2b3f4c6d8e9f0a1b2c3d4e5f",
        Role.CLINICIAN,
        SUBSTITUTE,
        "Klør det? Smør med hydrokortisonkrem morgen og kveld i en uke.",
        "2026-11-27T08:30:00",
    )
    follow_up = _message(
        case,
        "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
        Role.PATIENT,
        PATIENT.id,
        "Ja, mest om natten. Jeg prøver kremen.",
        "2026-11-27T12:10:00",
    )
    closed = entries.closed(case, SUBSTITUTE, _at("2026-11-28T09:00:00"))
    return _thread(
        ("patient-message", question),
        ("reassign", reassigned),
        ("clinician-reply", reply),
        ("patient-follow-up", follow_up),
        ("close", closed),
    )


def _representatives_thread() -> list[Example]:
    """A parent writes for their child, then withdraws the question before any reply."""
    case = _case("d0d0cafed0d0cafed0d0cafed0d0cafe", CHILD)
    message = _message(
        case,
        "9a8b7c6d5e4f30211a2b3c4d5e6f7a8b",
        Role.PATIENT,
        PARENT.id,
        "Datteren min har hatt feber i tre dager.",
        "2026-11-30T19:20:00",
        representative=PARENT,
    )
    withdrawn = entries.withdrawn(case, _at("2026-11-30T21:05:00"), PARENT)
    return _thread(("representative-message", message), ("representative-withdraw", withdrawn))


def examples() -> list[Example]:
    """One example of every entry kind, in the order each consultation had them."""
    withdrawn = _case("bead0000bead0000bead0000bead0000", PATIENT)
    inactive = _case("feed0000feed0000feed0000feed0000", PATIENT)
    return [
        *_answered_thread(),
        *_representatives_thread(),
        *_thread(("withdraw", entries.withdrawn(withdrawn, _at("2026-12-01T07:45:00")))),
        *_thread(
            ("auto-close", entries.closed_for_inactivity(inactive, _at("2027-01-04T09:00:00"), 30))
        ),
    ]


def files() -> dict[Path, str]:
    """Each example's file and its text, as committed."""
    return {
        EXAMPLES / f"{example.name}.json": json.dumps(
            example.communication(), indent=2, ensure_ascii=False
        )
        + "\n"
        for example in examples()
    }


def main() -> None:
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for path, text in files().items():
        path.write_text(text)
        sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")


if __name__ == "__main__":
    main()
