"""Bad input is refused as problem+json (422; 404 for unknown ids) and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from api.schemas import Strict
from store.request_tables import IdempotencyKey
from store.tables import Attachment, Clinician, Consultation, Frikort, Message
from tests.api.support import (
    Api,
    Party,
    assert_problem,
    clinician_body,
    create,
    create_body,
    rows,
    seed_clinicians,
    today,
    unique,
    upload,
)

Edit = Callable[[dict[str, Any], Party], None]


def _set(path: str, value: Any) -> Edit:
    def edit(body: dict[str, Any], _party: Party) -> None:
        *parents, leaf = path.split(".")
        for key in parents:
            body = body.setdefault(key, {})
        body[leaf] = value

    return edit


def _merge(path: str, values: dict[str, Any]) -> Edit:
    def edit(body: dict[str, Any], _party: Party) -> None:
        body[path].update(values)

    return edit


def _drop(path: str) -> Edit:
    def edit(body: dict[str, Any], _party: Party) -> None:
        *parents, leaf = path.split(".")
        for key in parents:
            body = body[key]
        del body[leaf]

    return edit


def _recipient(make: Callable[[Party], str]) -> Edit:
    def edit(body: dict[str, Any], party: Party) -> None:
        body["recipient_id"] = make(party)

    return edit


CREATE_CASES: dict[str, Edit] = {
    "patient_missing": _drop("patient"),
    "patient_id_not_a_string": _set("patient.id", 12345678901),
    "patient_id_empty": _set("patient.id", "  "),
    "patient_id_too_long": _set("patient.id", "p" * 65),
    "birth_date_not_a_date": _set("patient.birth_date", "17.05.1980"),
    "frikort_not_a_boolean": _set("patient.frikort", "yes"),
    "exemption_too_long": _set("patient.exemption", "x" * 201),
    "exemption_unknown_code": _set("patient.exemption", "pregnancy"),
    "exemption_other_without_note": _set("patient.exemption", "other"),
    "exemption_note_without_other": _merge("patient", {"exemption_note": "in prison"}),
    "exemption_note_beside_another_code": _merge(
        "patient", {"exemption": "frikort", "exemption_note": "from March"}
    ),
    "exemption_note_too_long": _merge(
        "patient", {"exemption": "other", "exemption_note": "x" * 201}
    ),
    "patient_unknown_field": _set("patient.ssn", "01018012345"),
    "clinician_id_missing": _drop("clinician_id"),
    "clinician_id_not_a_string": _set("clinician_id", 9100001),
    "clinician_unknown": _set("clinician_id", "no-such-clinician"),
    "recipient_neither_clinician_nor_substitute": _recipient(lambda p: unique("stranger")),
    "recipient_is_substitute_not_active": _recipient(lambda p: p.substitute),
    "copayment_not_accepted": _set("copayment_accepted", False),
    "copayment_accepted_missing": _drop("copayment_accepted"),
    "copayment_accepted_as_string": _set("copayment_accepted", "true"),
    "message_not_an_object": _set("message", "hello"),
    "message_body_missing": _set("message", {"attachment_ids": []}),
    "message_body_empty_after_trimming": _set("message", {"body": " \n\t "}),
    "message_body_too_long": _set("message", {"body": "x" * 5001}),
    "message_body_not_a_string": _set("message", {"body": 42}),
    "attachment_ids_not_a_list": _set("message", {"body": "hi", "attachment_ids": "abc"}),
    "attachment_id_unknown": _set("message", {"body": "hi", "attachment_ids": ["nope"]}),
    "message_unknown_field": _set("message", {"body": "hi", "urgent": True}),
    "unknown_top_level_field": _set("priority", "high"),
}


async def _counts(api: Api, party: Party) -> dict[str, int]:
    return {
        "consultations": await rows(api.sessions, Consultation, clinician_id=party.clinician),
        "patient_consultations": await rows(api.sessions, Consultation, patient_id=party.patient),
        "attachments_unbound": await rows(
            api.sessions, Attachment, uploaded_by=party.portal, consultation_id=None
        ),
        "idempotency_keys": await rows(api.sessions, IdempotencyKey, caller=party.portal),
    }


@pytest.mark.parametrize("case", list(CREATE_CASES))
async def test_create_refuses_invalid_input_with_422_and_stores_nothing(
    api: Api, party: Party, case: str
) -> None:
    await seed_clinicians(api.http, party)
    body = create_body(party, message="A question.")
    CREATE_CASES[case](body, party)
    before = await _counts(api, party)
    response = await api.http.post(
        "/v1/consultations",
        json=body,
        headers={**party.service, "Idempotency-Key": unique("key")},
    )
    problem = assert_problem(response, 422)
    assert "01018012345" not in str(problem)  # input is never echoed back
    assert await _counts(api, party) == before
    assert before["consultations"] == 0


async def test_create_refuses_a_missing_recipient_while_a_substitute_is_active(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party, substitute_active=True)
    body = create_body(party, message="A question.")
    del body["recipient_id"]
    assert_problem(await api.http.post("/v1/consultations", json=body, headers=party.service), 422)
    assert await rows(api.sessions, Consultation, clinician_id=party.clinician) == 0


async def test_create_refuses_a_clinician_who_takes_no_econsultations(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party, accepts_econsultations=False)
    response = await api.http.post(
        "/v1/consultations", json=create_body(party, message="Hi."), headers=party.service
    )
    assert "does not accept" in assert_problem(response, 422)["detail"]
    assert await rows(api.sessions, Consultation, clinician_id=party.clinician) == 0


async def test_create_refuses_a_body_that_is_not_a_json_object(api: Api, party: Party) -> None:
    for content in (b"{not json", b"[]", b""):
        response = await api.http.post(
            "/v1/consultations",
            content=content,
            headers={**party.service, "Content-Type": "application/json"},
        )
        assert_problem(response, 422)


async def test_create_refuses_another_portals_attachment(api: Api, party: Party) -> None:
    await seed_clinicians(api.http, party)
    stranger = Party(api.tokens)
    foreign = (await upload(api.http, stranger.service)).json()["id"]
    body = create_body(party)
    body["message"] = {"body": "Hi.", "attachment_ids": [foreign]}
    assert_problem(await api.http.post("/v1/consultations", json=body, headers=party.service), 422)
    assert await rows(api.sessions, Consultation, clinician_id=party.clinician) == 0


async def test_create_refuses_the_same_attachment_twice_in_a_message(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party)
    attachment = (await upload(api.http, party.service)).json()["id"]
    body = create_body(party)
    body["message"] = {"body": "Hi.", "attachment_ids": [attachment, attachment]}
    assert_problem(await api.http.post("/v1/consultations", json=body, headers=party.service), 422)


COMMAND_BODIES: dict[str, Any] = {
    "body_missing": {"attachment_ids": []},
    "body_empty_after_trimming": {"body": "   "},
    "body_too_long": {"body": "y" * 5001},
    "body_not_a_string": {"body": ["a"]},
    "attachment_unknown": {"body": "ok", "attachment_ids": ["missing-id"]},
    "too_many_attachments": {"body": "ok", "attachment_ids": [f"a{i}" for i in range(6)]},
    "unknown_field": {"body": "ok", "author_id": "someone-else"},
}


@pytest.mark.parametrize("case", list(COMMAND_BODIES))
@pytest.mark.parametrize("command", ["submit", "patient-replies", "replies", "close"])
async def test_commands_refuse_invalid_messages_with_422_and_store_no_message(
    api: Api, party: Party, command: str, case: str
) -> None:
    await seed_clinicians(api.http, party)
    consultation = await create(api.http, party)
    cid = consultation["id"]
    headers = party.doctor if command in ("replies", "close") else party.service
    body = COMMAND_BODIES[case]
    if command == "close":
        body = {"message": body}
    response = await api.http.post(f"/v1/consultations/{cid}/{command}", json=body, headers=headers)
    assert_problem(response, 422)
    assert await rows(api.sessions, Message, consultation_id=cid) == 1
    status = (await api.http.get(f"/v1/consultations/{cid}", headers=party.service)).json()
    assert status["status"] == "awaiting_clinician"


@pytest.mark.parametrize(("field", "value"), [("billable", "no"), ("close", 1), ("billable", None)])
async def test_clinician_reply_flags_must_be_booleans(
    api: Api, party: Party, field: str, value: Any
) -> None:
    await seed_clinicians(api.http, party)
    cid = (await create(api.http, party))["id"]
    response = await api.http.post(
        f"/v1/consultations/{cid}/replies",
        json={"body": "Answer.", field: value},
        headers=party.doctor,
    )
    assert_problem(response, 422)
    assert await rows(api.sessions, Message, consultation_id=cid) == 1


CLINICIAN_EXEMPTIONS: dict[str, dict[str, Any]] = {
    "unknown_code": {"exemption": "student"},
    "other_without_note": {"exemption": "other"},
    "note_without_other": {"exemption_note": "war injury"},
    "note_beside_another_code": {"exemption": "military_service", "exemption_note": "x"},
    "note_too_long": {"exemption": "other", "exemption_note": "x" * 201},
}


@pytest.mark.parametrize("case", list(CLINICIAN_EXEMPTIONS))
@pytest.mark.parametrize("command", ["replies", "close"])
async def test_a_clinicians_exemption_is_a_known_code_with_a_note_only_for_other(
    api: Api, party: Party, command: str, case: str
) -> None:
    await seed_clinicians(api.http, party)
    cid = (await create(api.http, party))["id"]
    body = {"body": "Answer."} if command == "replies" else {"message": {"body": "Answer."}}
    response = await api.http.post(
        f"/v1/consultations/{cid}/{command}",
        json=body | CLINICIAN_EXEMPTIONS[case],
        headers=party.doctor,
    )
    assert_problem(response, 422)
    assert await rows(api.sessions, Message, consultation_id=cid) == 1


@pytest.mark.parametrize("reason", ["clinician", "inactive", "DECLINED", 1])
async def test_a_close_reason_is_declined_or_absent(api: Api, party: Party, reason: Any) -> None:
    await seed_clinicians(api.http, party)
    cid = (await create(api.http, party))["id"]
    response = await api.http.post(
        f"/v1/consultations/{cid}/close", json={"reason": reason}, headers=party.doctor
    )
    assert_problem(response, 422)
    shown = (await api.http.get(f"/v1/consultations/{cid}", headers=party.service)).json()
    assert shown["status"] == "awaiting_clinician"


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v1/consultations/{id}", "service"),
        ("GET", "/v1/consultations/{id}", "doctor"),
        ("GET", "/v1/consultations/{id}/access-log", "service"),
        ("POST", "/v1/consultations/{id}/submit", "service"),
        ("POST", "/v1/consultations/{id}/patient-replies", "service"),
        ("POST", "/v1/consultations/{id}/withdraw", "service"),
        ("POST", "/v1/consultations/{id}/replies", "doctor"),
        ("POST", "/v1/consultations/{id}/close", "doctor"),
        ("GET", "/v1/attachments/{id}", "service"),
        ("GET", "/v1/clinicians/{id}", "service"),
    ],
)
async def test_unknown_ids_answer_404(
    api: Api, party: Party, method: str, path: str, scope: str
) -> None:
    body: dict[str, Any] | None = None
    if method == "POST" and not path.endswith(("withdraw", "close")):
        body = {"body": "Hello."}
    response = await api.http.request(
        method, path.format(id=unique("nope")), json=body, headers=getattr(party, scope)
    )
    assert_problem(response, 404)


async def test_unknown_routes_answer_404_problem_json(api: Api, party: Party) -> None:
    assert_problem(await api.http.get("/v1/nothing-here", headers=party.service), 404)
    assert_problem(await api.http.delete("/v1/inbox", headers=party.doctor), 405)


SubstituteEdit = Callable[[Party], dict[str, Any]]
DIRECTORY_CASES: dict[str, SubstituteEdit] = {
    "name_missing": lambda p: {k: v for k, v in clinician_body(p.practice).items() if k != "name"},
    "name_empty": lambda p: clinician_body(p.practice, name="  "),
    "accepts_not_a_boolean": lambda p: clinician_body(p.practice, accepts_econsultations="true"),
    "reply_within_zero": lambda p: clinician_body(p.practice, reply_within_working_days=0),
    "reply_within_too_many": lambda p: clinician_body(p.practice, reply_within_working_days=31),
    "reply_within_as_string": lambda p: clinician_body(p.practice, reply_within_working_days="5"),
    "substitute_missing_key": lambda p: {
        k: v for k, v in clinician_body(p.practice).items() if k != "substitute"
    },
    "substitute_unknown": lambda p: clinician_body(
        p.practice,
        substitute={
            "clinician_id": unique("ghost"),
            "valid_from": today().isoformat(),
            "valid_to": today().isoformat(),
        },
    ),
    "substitute_period_reversed": lambda p: clinician_body(
        p.practice,
        substitute={
            "clinician_id": p.substitute,
            "valid_from": (today() + timedelta(days=2)).isoformat(),
            "valid_to": today().isoformat(),
        },
    ),
    "substitute_is_self": lambda p: clinician_body(
        p.practice,
        substitute={
            "clinician_id": p.clinician,
            "valid_from": today().isoformat(),
            "valid_to": today().isoformat(),
        },
    ),
    "unknown_field": lambda p: clinician_body(p.practice, email="dr@example.org"),
}


@pytest.mark.parametrize("case", list(DIRECTORY_CASES))
async def test_directory_put_refuses_invalid_entries_and_writes_nothing(
    api: Api, party: Party, case: str
) -> None:
    await api.http.put(
        f"/v1/clinicians/{party.substitute}",
        json=clinician_body(party.practice, name="Dr. Vikar"),
        headers=party.admin,
    )
    response = await api.http.put(
        f"/v1/clinicians/{party.clinician}", json=DIRECTORY_CASES[case](party), headers=party.admin
    )
    assert_problem(response, 422)
    assert await rows(api.sessions, Clinician, id=party.clinician) == 0


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=ten", "status=pending", "overdue=perhaps", "cursor=%%%"],
)
async def test_inbox_refuses_invalid_query_parameters(api: Api, party: Party, query: str) -> None:
    assert_problem(await api.http.get(f"/v1/inbox?{query}", headers=party.doctor), 422)


# What pydantic's lax mode would take for a date (0 and "0" as 1970-01-01, a date-time's
# midnight as its day) where the document says a YYYY-MM-DD string.
NOT_A_DATE_STRING = [0, "0", 1.0, "2026-03-01T00:00:00", "20260301"]


@pytest.mark.parametrize("value", NOT_A_DATE_STRING)
async def test_a_frikort_date_is_a_date_string_only(api: Api, party: Party, value: Any) -> None:
    response = await api.http.put(
        f"/v1/patients/{party.patient}/frikort",
        json={"valid_from": value, "valid_to": "2026-12-31"},
        headers=party.admin,
    )

    problem = assert_problem(response, 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "valid_from"]]
    assert await rows(api.sessions, Frikort, patient_id=party.patient) == 0


@pytest.mark.parametrize("value", NOT_A_DATE_STRING)
async def test_an_absence_date_is_a_date_string_only(api: Api, party: Party, value: Any) -> None:
    absence = {"from": value, "to": "2026-12-31"}
    response = await api.http.put(
        f"/v1/clinicians/{party.clinician}",
        json=clinician_body(party.practice, absences=[absence]),
        headers=party.admin,
    )

    problem = assert_problem(response, 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "absences", "0", "from"]]
    assert await rows(api.sessions, Clinician, id=party.clinician) == 0


def _request_models() -> list[type[Strict]]:
    found, pending = [], list(Strict.__subclasses__())
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return found


def test_every_date_field_of_every_request_body_takes_a_date_string_only() -> None:
    """The rule sits on the request models' base, so a date field added later has it too."""
    checked = []
    for model in _request_models():
        for name, field in model.model_fields.items():
            if date not in {field.annotation, *get_args(field.annotation)}:
                continue
            checked.append(f"{model.__name__}.{name}")
            for value in NOT_A_DATE_STRING:
                with pytest.raises(ValidationError, match="a date is a string YYYY-MM-DD"):
                    model.__pydantic_validator__.validate_assignment(
                        model.model_construct(), name, value
                    )

    assert {"FrikortIn.valid_from", "AbsenceIn.starts_on", "PatientIn.birth_date"} <= set(checked)
