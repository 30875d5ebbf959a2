"""The committed FHIR examples and profile (docs/fhir/) say what a record system receives.

Each example is a valid R4 Communication with the elements the guide promises; the adapter
sends exactly it when the entry goes through the journal to a FHIR server the test starts; and
every example meets the profile's differential, checked by the small checker below (the HL7
validator and its package registry are not reachable from here).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.structuredefinition import StructureDefinition
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.fhir import ClientCredentials, FhirRecordSystem, RecordSystemActivities
from activities.fhir_resources import (
    ENTRY_KIND_SYSTEM,
    HPR_SYSTEM,
    NATIONAL_ID_SYSTEM,
    PRACTICE_SYSTEM,
    SHA256_EXTENSION,
)
from activities.record_auth import ClientSecretBasic
from dev import fhir_examples
from dev.harness.databases import sqlite_database
from dev.harness.ports import serving
from domain.effects import JournalEntryKind, JournalForward
from domain.models import (
    AttachmentRef,
    CloseCommand,
    MessageContent,
    ReassignCommand,
    ReplyCommand,
    Role,
    SubmitCommand,
    WithdrawCommand,
)
from domain.parties import Patient
from domain.working_days import OSLO
from store.attachments import Attachments
from store.database import create_engine, create_session_factory
from store.directory import Directory, DirectoryEntry
from store.journal import JournalTable
from tests.integrations.receivers import FhirServer, worker_with
from tests.support import content, new_start, relate, start
from workflows.econsultation import EConsultation

EXAMPLES = {example.name: example for example in fhir_examples.examples()}
PROFILE = fhir_examples.FOLDER / "StructureDefinition-econsult-communication.json"
EXTENSION = fhir_examples.FOLDER / "StructureDefinition-attachment-sha256.json"
SYSTEMS = fhir_examples.SYSTEMS


async def store_scan(sessions: async_sessionmaker[AsyncSession], attachment_id: str) -> None:
    """The examples' scan in the case store under `attachment_id`, uploaded by their patient."""
    scan = fhir_examples.SCAN_INFO
    await Attachments(sessions).add(
        attachment_id=attachment_id,
        uploaded_by=scan.uploaded_by,
        filename=scan.filename,
        content_type=scan.content_type,
        sha256=scan.sha256,
        content=fhir_examples.SCAN,
    )


def committed(name: str) -> dict[str, Any]:
    resource: dict[str, Any] = json.loads((fhir_examples.EXAMPLES / f"{name}.json").read_text())
    return resource


def reference(kind: str, system: str, value: str) -> dict[str, Any]:
    return {"type": kind, "identifier": {"system": system, "value": value}}


PATIENT = reference("Patient", NATIONAL_ID_SYSTEM, fhir_examples.PATIENT.id)
CHILD = reference("Patient", NATIONAL_ID_SYSTEM, fhir_examples.CHILD.id)
CLINICIAN = reference("Practitioner", HPR_SYSTEM, fhir_examples.CLINICIAN)
SUBSTITUTE = reference("Practitioner", HPR_SYSTEM, fhir_examples.SUBSTITUTE)
PRACTICE = reference("Organization", PRACTICE_SYSTEM, fhir_examples.PRACTICE)
REPRESENTATIVE = {"type": "RelatedPerson", "reference": "#representative"}
SERVICE = {"type": "Device", "display": "E-consultation service"}


def answers(name: str) -> list[dict[str, Any]]:
    return [reference("Communication", SYSTEMS.entry, EXAMPLES[name].entry.entry_key)]


# name: (category code, subject, sender, recipient, inResponseTo)
EXPECTED: dict[str, tuple[str, Any, Any, Any, Any]] = {
    "patient-message": ("message", PATIENT, PATIENT, [CLINICIAN], None),
    "reassign": ("reassign", PATIENT, PRACTICE, [SUBSTITUTE], None),
    "clinician-reply": ("message", PATIENT, SUBSTITUTE, [PATIENT], answers("patient-message")),
    "patient-follow-up": ("message", PATIENT, PATIENT, [SUBSTITUTE], answers("clinician-reply")),
    "close": ("close", PATIENT, SUBSTITUTE, [PATIENT], None),
    "representative-message": ("message", CHILD, REPRESENTATIVE, [CLINICIAN], None),
    "representative-withdraw": ("withdraw", CHILD, REPRESENTATIVE, [CLINICIAN], None),
    "withdraw": ("withdraw", PATIENT, PATIENT, [CLINICIAN], None),
    "auto-close": ("auto_close", PATIENT, SERVICE, [CLINICIAN], None),
}


def test_there_is_an_example_of_every_entry_kind_and_author() -> None:
    kinds = {EXAMPLES[name].entry.kind for name in EXPECTED}
    assert kinds == set(JournalEntryKind)
    assert sorted(EXPECTED) == sorted(EXAMPLES)
    assert sorted(path.stem for path in fhir_examples.EXAMPLES.glob("*.json")) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_example_is_a_communication_with_the_elements_the_guide_names(name: str) -> None:
    resource = committed(name)
    entry = EXAMPLES[name].entry
    code, subject, sender, recipient, in_response_to = EXPECTED[name]

    Communication.model_validate(resource)
    assert resource["identifier"] == [{"system": SYSTEMS.entry, "value": entry.entry_key}]
    assert resource["status"] == "completed"
    assert resource["category"] == [
        {"coding": [{"system": ENTRY_KIND_SYSTEM, "code": code}], "text": "E-consultation"}
    ]
    assert resource["subject"] == subject
    assert resource["about"] == [
        {
            "identifier": {"system": SYSTEMS.consultation, "value": entry.consultation_id},
            "display": "E-consultation",
        }
    ]
    assert "partOf" not in resource
    assert resource["sent"] == entry.occurred_at.isoformat().replace("+00:00", "Z")
    assert resource["sender"] == sender
    assert resource["recipient"] == recipient
    assert resource.get("inResponseTo") == in_response_to
    assert resource["payload"][0] == {"contentString": entry.text}


def test_the_attachment_is_a_link_to_the_api_with_its_sha256() -> None:
    [text, attached] = committed("patient-message")["payload"]
    scan = fhir_examples.SCAN_INFO

    assert text["contentString"]
    assert attached == {
        "contentAttachment": {
            "extension": [{"url": SHA256_EXTENSION, "valueString": scan.sha256}],
            "contentType": "image/png",
            "url": f"https://econsult.example/v1/attachments/{scan.id}",
            "size": len(fhir_examples.SCAN),
            "title": "rash.png",
        }
    }


def test_a_representative_is_contained_with_the_relation_and_the_patient() -> None:
    for name in ("representative-message", "representative-withdraw"):
        [related] = committed(name)["contained"]
        assert related["resourceType"] == "RelatedPerson"
        assert related["id"] == "representative"
        assert related["identifier"] == [
            {"system": NATIONAL_ID_SYSTEM, "value": fhir_examples.PARENT.id}
        ]
        assert related["patient"] == CHILD
        assert related["relationship"][0]["coding"][0]["code"] == "PRN"
    others = [name for name in EXPECTED if not name.startswith("representative-")]
    assert all("contained" not in committed(name) for name in others)


def test_a_reassignment_names_the_administrator_in_a_note() -> None:
    [note] = committed("reassign")["note"]

    assert note["authorString"] == fhir_examples.PRACTICE_ADMIN
    assert all("note" not in committed(name) for name in EXPECTED if name != "reassign")


async def test_the_adapter_sends_each_example_as_committed(tmp_path: Path) -> None:
    """Every example entry journaled in a fresh case store, in the order it happened, and
    forwarded by the activity to a FHIR server: the server holds the committed resources."""
    engine = create_engine(sqlite_database(tmp_path))
    sessions = create_session_factory(engine)
    server = FhirServer()
    await store_scan(sessions, fhir_examples.SCAN_INFO.id)
    journal = JournalTable(sessions)
    try:
        async with serving(server.app(), 0) as base_url:
            credentials = ClientCredentials(
                f"{base_url}/token",
                ClientSecretBasic(server.client_id, server.client_secret),
                None,
            )
            forwarder = RecordSystemActivities(
                journal,
                Attachments(sessions),
                FhirRecordSystem(f"{base_url}/fhir", credentials),
                SYSTEMS,
            )
            for example in EXAMPLES.values():
                await journal.write(example.entry)
            # Sent in reverse: the link is read from the journal, whatever reaches the server first.
            for example in reversed(EXAMPLES.values()):
                forward = JournalForward(entry_key=example.entry.entry_key)
                await ActivityEnvironment().run(forwarder.forward_journal_entry, forward)
    finally:
        await engine.dispose()

    for name, example in EXAMPLES.items():
        sent = dict(server.resources[f"{SYSTEMS.entry}|{example.entry.entry_key}"])
        # The only field the server adds: the id it gave the resource.
        assert uuid.UUID(sent.pop("id"))
        assert sent == committed(name), f"{name}.json is not what the adapter sends"


# --- the profile ------------------------------------------------------------------------------


def profile() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(PROFILE.read_text())
    return document


def _children(node: dict[str, Any], step: str, slices: dict[str, str]) -> list[Any]:
    """The values of one element of `node`: `content[x]` any of its types, `content[x]:
    contentAttachment` that type only, `extension:sha256` the extensions of the slice's url."""
    name, _, slice_name = step.partition(":")
    if name.endswith("[x]"):
        stem = name.removesuffix("[x]")
        keys = [slice_name] if slice_name else [k for k in node if _is_choice(k, stem)]
    else:
        keys = [name]
    values: list[Any] = []
    for key in keys:
        value = node.get(key)
        values += value if isinstance(value, list) else [] if value is None else [value]
    if slice_name and not name.endswith("[x]"):
        values = [v for v in values if v.get("url") == slices[step]]
    return values


def _is_choice(key: str, stem: str) -> bool:
    return key.startswith(stem) and key[len(stem) : len(stem) + 1].isupper()


def _instances(resource: dict[str, Any], steps: list[str], slices: dict[str, str]) -> list[Any]:
    nodes: list[Any] = [resource]
    for step in steps:
        nodes = [child for node in nodes for child in _children(node, step, slices)]
    return nodes


def _matches(value: Any, pattern: Any) -> bool:
    """FHIR's pattern: every element of the pattern is in the value (lists: each item found)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            _matches(value.get(k), v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(
            any(_matches(item, p) for item in value) for p in pattern
        )
    return bool(value == pattern)


def _slices(document: dict[str, Any]) -> dict[str, str]:
    """A slice of a repeating element (`extension:sha256`) by the fixed url that tells it apart."""
    return {
        e["id"].removesuffix(".url").rpartition(".")[2]: e["fixedUri"]
        for e in document["differential"]["element"]
        if e["id"].endswith(".url") and "fixedUri" in e and ":" in e["id"]
    }


def violations(resource: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """What in `resource` breaks the profile's differential: cardinalities (per instance of
    the parent element), fixed and pattern values, the types of a choice element."""
    elements = document["differential"]["element"]
    slices = _slices(document)
    found = []
    for element in elements:
        *parents, last = element["id"].split(".")[1:] or [""]
        if not last:
            continue
        for parent in _instances(resource, parents, slices):
            values = _children(parent, last, slices)
            maximum = element.get("max", "*")
            if len(values) < element.get("min", 0) or (
                maximum != "*" and len(values) > int(maximum)
            ):
                found.append(
                    f"{element['id']}: {len(values)} of {element.get('min', 0)}..{maximum}"
                )
            for key, fixed in element.items():
                if key.startswith("fixed") and any(v != fixed for v in values):
                    found.append(f"{element['id']}: not {fixed!r}")
                if key.startswith("pattern") and not all(_matches(v, fixed) for v in values):
                    found.append(f"{element['id']}: does not match {fixed!r}")
            if last.endswith("[x]") and ":" not in last and "type" in element:
                allowed = {t["code"][0].upper() + t["code"][1:] for t in element["type"]}
                stem = last.removesuffix("[x]")
                used = {k.removeprefix(stem) for k in parent if _is_choice(k, stem)}
                found += [f"{element['id']}: type {t} not allowed" for t in used - allowed]
    return found


def test_the_profile_and_its_extension_are_structure_definitions_of_r4() -> None:
    for path in (PROFILE, EXTENSION):
        definition = StructureDefinition.model_validate(json.loads(path.read_text()))
        assert definition.fhirVersion == "4.0.1"
        assert definition.derivation == "constraint"
    assert profile()["type"] == "Communication"
    extension = json.loads(EXTENSION.read_text())
    assert extension["url"] == SHA256_EXTENSION


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_example_meets_the_profile(name: str) -> None:
    assert violations(committed(name), profile()) == []


def test_every_element_the_profile_constrains_is_in_an_example() -> None:
    """A misspelt path would constrain nothing: each one is found in some example (but those
    the profile rules out, max 0)."""
    document = profile()
    slices = _slices(document)
    unseen = [
        element["id"]
        for element in document["differential"]["element"][1:]
        if element.get("max") != "0"
        and not any(
            _instances(committed(name), element["id"].split(".")[1:], slices) for name in EXPECTED
        )
    ]
    assert unseen == []


def _broken() -> Iterator[tuple[str, dict[str, Any], str]]:
    """Examples each broken in one way the profile forbids, and the element that says so."""
    base = committed("patient-message")

    def without(*path: str) -> dict[str, Any]:
        broken = copy.deepcopy(base)
        node: Any = broken
        for step in path[:-1]:
            node = node[step] if not step.isdigit() else node[int(step)]
        del node[path[-1]]
        return broken

    def changed(update: dict[str, Any]) -> dict[str, Any]:
        return {**copy.deepcopy(base), **update}

    yield "no subject", without("subject"), "Communication.subject"
    yield "status", changed({"status": "in-progress"}), "Communication.status"
    yield "two identifiers", changed({"identifier": base["identifier"] * 2}), "identifier"
    yield (
        "kind system",
        changed(
            {
                "category": [
                    {"coding": [{"system": "x", "code": "message"}], "text": "E-consultation"}
                ]
            }
        ),
        "category.coding.system",
    )
    yield "no attachment url", without("payload", "1", "contentAttachment", "url"), ".url"
    yield "no sha256", without("payload", "1", "contentAttachment", "extension"), "extension"
    yield (
        "inline data",
        changed(
            {
                "payload": [
                    base["payload"][0],
                    {
                        "contentAttachment": {
                            **base["payload"][1]["contentAttachment"],
                            "data": "AAAA",
                        }
                    },
                ]
            }
        ),
        ".data",
    )
    yield (
        "reference payload",
        changed({"payload": [{"contentReference": {"reference": "Binary/1"}}]}),
        "content[x]",
    )
    yield "partOf", changed({"partOf": [{"reference": "Encounter/1"}]}), "partOf"
    yield (
        "a literal answer",
        changed({"inResponseTo": [{"reference": "Communication/1"}]}),
        "inResponseTo.identifier",
    )


@pytest.mark.parametrize(
    ("what", "resource", "element"), list(_broken()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_checker_finds_what_breaks_the_profile(
    what: str, resource: dict[str, Any], element: str
) -> None:
    found = violations(resource, profile())

    assert any(element in line for line in found), f"{what}: {found}"


def test_the_guides_example_is_the_committed_one() -> None:
    guide = (fhir_examples.ROOT / "docs" / "guide-record-system.md").read_text()
    section = guide.split("### The profile as sent", 1)[1]
    shown = section.split("```json\n", 1)[1].split("```", 1)[0]

    assert json.loads(shown) == committed("patient-message")


# --- what the workflow's own decisions send -----------------------------------------------------


def _timeless(resource: dict[str, Any]) -> dict[str, Any]:
    """Without what differs from run to run whatever the ids: the server's id and the times."""
    kept = copy.deepcopy(resource)
    kept.pop("id", None)
    kept.pop("sent")
    for note in kept.get("note", []):
        note.pop("time")
    return kept


def as_example(resource: dict[str, Any], volatile: dict[str, str]) -> dict[str, Any]:
    """The sent resource with the example's ids in place of the run's own, and timeless."""
    text = json.dumps(resource)
    for actual, example in volatile.items():
        text = text.replace(actual, example)
    return _timeless(json.loads(text))


@dataclass
class Run:
    """A FHIR server and a worker that forwards to it, over a directory of the examples'
    clinicians and patients."""

    client: Client
    server: FhirServer
    task_queue: str
    # The run's ids, each with the example's it stands for.
    volatile: dict[str, str] = field(default_factory=dict)

    def same_id(self, example: str) -> str:
        """A fresh id the example's `example` stands for in the comparison."""
        actual = uuid.uuid4().hex
        self.volatile[actual] = example
        return actual

    def message_id(self, name: str) -> str:
        return self.same_id(EXAMPLES[name].entry.entry_key.removeprefix("message:"))

    async def start(self, name: str, patient: Patient, **fields: Any) -> WorkflowHandle[Any, Any]:
        """A consultation standing for the one of example `name`."""
        case = new_start(
            consultation_id=self.same_id(EXAMPLES[name].entry.consultation_id),
            patient=patient,
            clinician_id=fhir_examples.CLINICIAN,
            recipient_id=fhir_examples.CLINICIAN,
            **fields,
        )
        return await start(self.client, self.task_queue, case)

    def assert_sent_as(self, *names: str) -> None:
        for name in names:
            [sent] = [
                resource
                for resource in self.server.resources.values()
                if as_example(resource, self.volatile)["identifier"]
                == committed(name)["identifier"]
            ]
            assert as_example(sent, self.volatile) == _timeless(committed(name)), name


async def _seed(sessions: async_sessionmaker[AsyncSession], *patients: str) -> None:
    directory = Directory(sessions)
    for clinician in (fhir_examples.CLINICIAN, fhir_examples.SUBSTITUTE):
        await directory.put(
            DirectoryEntry(
                id=clinician,
                name="Dr. Eksempel",
                practice_id=fhir_examples.PRACTICE,
                accepts_econsultations=True,
            )
        )
    for patient_id in patients:
        await relate(sessions, patient_id, fhir_examples.CLINICIAN)


@asynccontextmanager
async def forwarding(client: Client, database_url: str) -> AsyncIterator[Run]:
    server = FhirServer()
    async with (
        serving(server.app(), 0) as base_url,
        worker_with(
            client,
            database_url,
            public_api_url=SYSTEMS.attachments_url,
            **server.settings(base_url),
        ) as task_queue,
    ):
        yield Run(client, server, task_queue)


def today_minus(years: int) -> date:
    today = datetime.now(OSLO).date()
    return today.replace(year=today.year - years, day=min(today.day, 28))


async def test_the_workflow_sends_the_answered_thread_as_the_examples_show(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    patient = fhir_examples.PATIENT
    await _seed(sessions, patient.id)
    texts = {name: example.entry.text for name, example in EXAMPLES.items()}
    async with forwarding(dev_env.client, sqlite_url) as run:
        attachment_id = run.same_id(fhir_examples.SCAN_INFO.id)
        await store_scan(sessions, attachment_id)
        handle = await run.start("patient-message", patient, message=None)
        await handle.execute_update(
            EConsultation.submit,
            SubmitCommand(
                message_id=run.message_id("patient-message"),
                message=MessageContent(
                    body=texts["patient-message"],
                    attachments=[
                        AttachmentRef(id=attachment_id, sha256=fhir_examples.SCAN_INFO.sha256)
                    ],
                ),
            ),
        )
        await handle.execute_update(
            EConsultation.reassign,
            ReassignCommand(
                recipient_id=fhir_examples.SUBSTITUTE,
                reason="Fastlegen har ferie.",
                by=fhir_examples.PRACTICE_ADMIN,
            ),
        )
        for name, role, author in (
            ("clinician-reply", Role.CLINICIAN, fhir_examples.SUBSTITUTE),
            ("patient-follow-up", Role.PATIENT, patient.id),
        ):
            await handle.execute_update(
                EConsultation.reply,
                ReplyCommand(
                    message_id=run.message_id(name),
                    author_role=role,
                    author_id=author,
                    message=MessageContent(body=texts[name]),
                ),
            )
        await handle.execute_update(
            EConsultation.close, CloseCommand(clinician_id=fhir_examples.SUBSTITUTE)
        )
        await handle.result()

    run.assert_sent_as(
        "patient-message", "reassign", "clinician-reply", "patient-follow-up", "close"
    )


async def test_the_workflow_sends_withdrawals_and_a_representatives_message_as_the_examples_show(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # The child is of an age a parent may write for on the day the test runs.
    child = Patient(id=fhir_examples.CHILD.id, birth_date=today_minus(8))
    parent = fhir_examples.PARENT
    await _seed(sessions, child.id, fhir_examples.PATIENT.id)
    async with forwarding(dev_env.client, sqlite_url) as run:
        for_child = await run.start(
            "representative-message",
            child,
            message=EXAMPLES["representative-message"].entry.text,
            message_id=run.message_id("representative-message"),
            representative=parent,
        )
        await for_child.execute_update(
            EConsultation.withdraw, WithdrawCommand(patient_id=child.id, representative=parent)
        )
        own = await run.start("withdraw", fhir_examples.PATIENT)
        await own.execute_update(
            EConsultation.withdraw, WithdrawCommand(patient_id=fhir_examples.PATIENT.id)
        )
        for handle in (for_child, own):
            await handle.result()

    run.assert_sent_as("representative-message", "representative-withdraw", "withdraw")


async def test_the_workflow_sends_an_automatic_close_as_the_example_shows(
    env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _seed(sessions, fhir_examples.PATIENT.id)
    async with forwarding(env.client, sqlite_url) as run:
        handle = await run.start("auto-close", fhir_examples.PATIENT)
        await handle.execute_update(
            EConsultation.reply,
            ReplyCommand(
                author_role=Role.CLINICIAN, author_id=fhir_examples.CLINICIAN, message=content()
            ),
        )
        await handle.result()

    run.assert_sent_as("auto-close")
