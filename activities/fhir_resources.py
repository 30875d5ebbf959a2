"""Journal entries as FHIR R4 `Communication` resources: what the forwarder sends, built from
the entry alone (no I/O), so the committed examples (docs/fhir/examples) and the profile beside
them are checked against the very code the worker runs. The models are fhir.resources' R4B
package: R4B changed no element of Communication, RelatedPerson, Attachment, Annotation,
Reference or Identifier, so what validates there is a valid R4 resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.communication import Communication

from domain import texts
from domain.effects import JournalEntryInput, JournalEntryKind
from domain.models import Role
from domain.parties import RepresentativeRef, RepresentativeRelation
from store.attachments import AttachmentInfo

# Norwegian identifier systems (HL7 Norway): national identity number and HPR number.
NATIONAL_ID_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
HPR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.4"
# R4's Attachment.hash is SHA-1; the service's claim check is SHA-256, carried as an extension.
SHA256_EXTENSION = "urn:econsult:attachment-sha256"
ENTRY_KIND_SYSTEM = "urn:econsult:journal-entry-kind"
# The service's practice ids; a deployment whose ids are organisation numbers names ENH's system.
PRACTICE_SYSTEM = "urn:econsult:practice"
# A representative's relation to the patient, in the code system R4's RelatedPerson.relationship
# binding draws on: PRN is a family relation, GUARD and POWATT are responsible parties, NOK
# the next of kin (a guardian is coded still: entries stored from one are forwarded as such).
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
RELATION_CODES: dict[RepresentativeRelation, tuple[str, str]] = {
    RepresentativeRelation.PARENT: ("PRN", "parent"),
    RepresentativeRelation.GUARDIAN: ("GUARD", "guardian"),
    RepresentativeRelation.POWER_OF_ATTORNEY: ("POWATT", "power of attorney"),
    RepresentativeRelation.NEXT_OF_KIN: ("NOK", "next of kin"),
}
# The id of the RelatedPerson contained in the Communication, referenced from its sender.
REPRESENTATIVE_ID = "representative"


@dataclass(frozen=True)
class FhirSystems:
    """Identifier systems and the base of attachment links, from the settings."""

    entry: str
    consultation: str
    attachments_url: str
    practice: str = PRACTICE_SYSTEM


def _patient(patient_id: str) -> dict[str, Any]:
    return {"type": "Patient", "identifier": {"system": NATIONAL_ID_SYSTEM, "value": patient_id}}


def _practitioner(hpr_number: str) -> dict[str, Any]:
    return {"type": "Practitioner", "identifier": {"system": HPR_SYSTEM, "value": hpr_number}}


def _related_person(representative: RepresentativeRef, patient_id: str) -> dict[str, Any]:
    """The representative, contained: the record system keeps no resource of its own for them,
    and only a resource (not a bare identifier) carries the relation to the patient."""
    code, display = RELATION_CODES[representative.relation]
    return {
        "resourceType": "RelatedPerson",
        "id": REPRESENTATIVE_ID,
        # The portal's identifier of the representative: the national identity number.
        "identifier": [{"system": NATIONAL_ID_SYSTEM, "value": representative.id}],
        "patient": _patient(patient_id),
        "relationship": [
            {"coding": [{"system": ROLE_CODE_SYSTEM, "code": code, "display": display}]}
        ],
    }


def _sender(entry: JournalEntryInput, systems: FhirSystems) -> dict[str, Any]:
    """Who really wrote: a representative, the practice (a reassignment), the patient or the
    clinician; the service itself only for what nobody wrote (an automatic close)."""
    if entry.representative is not None:
        return {"type": "RelatedPerson", "reference": f"#{REPRESENTATIVE_ID}"}
    if entry.kind == JournalEntryKind.REASSIGN and entry.practice_id is not None:
        return {
            "type": "Organization",
            "identifier": {"system": systems.practice, "value": entry.practice_id},
        }
    if entry.author_role == Role.CLINICIAN:
        return _practitioner(entry.author_id)
    if entry.author_role == Role.PATIENT:
        return _patient(entry.author_id)
    return {"type": "Device", "display": "E-consultation service"}


def _recipient(entry: JournalEntryInput) -> list[dict[str, Any]]:
    """The patient for what a clinician wrote (a reply, the close: both are addressed to the
    patient, whose record they go into); else the clinician the consultation is addressed to."""
    if entry.author_role == Role.CLINICIAN:
        return [_patient(entry.patient_id)]
    return [_practitioner(entry.recipient_id)] if entry.recipient_id else []


def _notes(entry: JournalEntryInput) -> list[dict[str, Any]]:
    """The person who reassigned, named beside the practice that is the sender.

    An administrator has no HPR number and no FHIR resource, and Communication has one sender,
    so the user goes into an Annotation: a core element every record system stores and shows,
    where an extension of our own would be dropped by one that does not know it.
    """
    if entry.kind != JournalEntryKind.REASSIGN:
        return []
    return [
        {
            "authorString": entry.author_id,
            "time": entry.occurred_at.isoformat(),
            "text": texts.REASSIGNED_BY_USER.format(user=entry.author_id),
        }
    ]


def _attachment(info: AttachmentInfo, systems: FhirSystems) -> dict[str, Any]:
    return {
        "contentType": info.content_type,
        "url": f"{systems.attachments_url}/v1/attachments/{info.id}",
        "size": info.size,
        "title": info.filename,
        "extension": [{"url": SHA256_EXTENSION, "valueString": info.sha256}],
    }


def _in_response_to(entry_key: str | None, systems: FhirSystems) -> list[dict[str, Any]]:
    """The Communication answered, by its identifier: the same on every entry that names it,
    whatever id the record system gave it (which the entry may be sent before it learns)."""
    if entry_key is None:
        return []
    return [{"type": "Communication", "identifier": {"system": systems.entry, "value": entry_key}}]


def communication_for(
    entry: JournalEntryInput,
    attachments: list[AttachmentInfo],
    systems: FhirSystems,
    in_response_to: str | None = None,
) -> Communication:
    """The entry as a validated Communication; entries of one consultation share `about`, and
    a message links the one it answers (the entry key `in_response_to`)."""
    payload: list[dict[str, Any]] = [{"contentString": entry.text}]
    payload += [{"contentAttachment": _attachment(info, systems)} for info in attachments]
    contained = (
        [_related_person(entry.representative, entry.patient_id)] if entry.representative else []
    )
    optional = {
        name: value
        for name, value in (
            ("contained", contained),
            ("recipient", _recipient(entry)),
            ("inResponseTo", _in_response_to(in_response_to, systems)),
            ("note", _notes(entry)),
        )
        if value
    }
    return Communication.model_validate(
        {
            "resourceType": "Communication",
            **optional,
            "identifier": [{"system": systems.entry, "value": entry.entry_key}],
            "status": "completed",
            "category": [
                {
                    "coding": [{"system": ENTRY_KIND_SYSTEM, "code": entry.kind.value}],
                    "text": "E-consultation",
                }
            ],
            "subject": _patient(entry.patient_id),
            "about": [
                {
                    "identifier": {"system": systems.consultation, "value": entry.consultation_id},
                    "display": "E-consultation",
                }
            ],
            "sent": entry.occurred_at.isoformat(),
            "sender": _sender(entry, systems),
            "payload": payload,
        }
    )
