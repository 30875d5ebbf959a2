"""The OpenAPI document as client generators read it, and the answers it promises."""

from __future__ import annotations

import re
from typing import Any

from tests.api.support import Api, Party, assert_problem, create_body, seed_clinicians, unique

# "sandbox": integrators of every audience, on `make sandbox` only.
AUDIENCES = {"portal", "clinician", "practice", "record-system", "admin", "operations", "sandbox"}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


async def _document(api: Api) -> dict[str, Any]:
    response = await api.http.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


async def test_every_error_response_references_the_one_problem_component(api: Api) -> None:
    document = await _document(api)
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "errors"} <= problem[
        "properties"
    ].keys()
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (
                f"{method} {path} {status}"
            )


async def test_operations_have_written_ids_and_audience_tags(api: Api) -> None:
    operations = _operations(await _document(api))
    ids = [operation["operationId"] for _, _, operation in operations]
    assert len(set(ids)) == len(ids)
    for method, path, operation in operations:
        # lowerCamelCase as a person writes it, not FastAPI's `name_path_method` default.
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", operation["operationId"]), (method, path)
        assert operation["tags"] and set(operation["tags"]) <= AUDIENCES, (method, path)
    assert {"createConsultation", "replyToConsultation", "listInbox", "getClinician"} <= set(ids)


async def test_allow_lists_every_method_of_the_path(api: Api) -> None:
    headers = api.party().admin
    # GET and PUT are two routes in FastAPI; the answer names both.
    response = await api.http.options("/v1/clinicians/someone", headers=headers)
    assert_problem(response, 405)
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "PUT"}
    response = await api.http.delete("/v1/consultations", headers=headers)
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"


async def test_request_constraints_are_in_the_document(api: Api) -> None:
    document = await _document(api)
    schemas = document["components"]["schemas"]
    assert schemas["CreateConsultation"]["properties"]["copayment_accepted"]["const"] is True
    for name in ("MessageIn", "PatientMessageIn", "ClinicianReply"):
        assert schemas[name]["properties"]["attachment_ids"]["uniqueItems"] is True, name
    inbox = document["paths"]["/v1/inbox"]["get"]
    cursor = next(p for p in inbox["parameters"] if p["name"] == "cursor")
    assert "next_cursor" in cursor["description"]
    upload = document["paths"]["/v1/attachments"]["post"]["requestBody"]
    assert "10 MiB" in upload["description"]
    encoding = upload["content"]["multipart/form-data"]["encoding"]["file"]["contentType"]
    assert set(encoding.split(", ")) == {"application/pdf", "image/jpeg", "image/png", "image/heic"}


async def test_refusals_the_document_describes_say_why(api: Api) -> None:
    party = api.party()
    await seed_clinicians(api.http, party)
    refused = await api.http.post(
        "/v1/consultations",
        json=create_body(party, copayment_accepted=False),
        headers=party.service,
    )
    assert "co-payment" in assert_problem(refused, 422)["detail"]
    cursor = await api.http.get(
        "/v1/inbox", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=party.doctor
    )
    assert "cursor" in assert_problem(cursor, 422)["detail"]


async def test_commands_declare_the_replayed_header_on_their_answers(api: Api) -> None:
    commands = [
        (method, path, operation)
        for method, path, operation in _operations(await _document(api))
        if any(p["name"].lower() == "idempotency-key" for p in operation.get("parameters", []))
    ]
    assert len(commands) >= 7, [path for _, path, _ in commands]
    for method, path, operation in commands:
        success = next(r for s, r in operation["responses"].items() if s.startswith("2"))
        assert "Idempotent-Replayed" in success.get("headers", {}), (method, path)


def _idempotent(operation: dict[str, Any]) -> bool:
    return any(p["name"].lower() == "idempotency-key" for p in operation.get("parameters", []))


async def test_reads_declare_no_limit_and_no_transition_they_cannot_answer(api: Api) -> None:
    """Reads are not rate limited, their bodies are not read, and they change no status."""
    reads = [op for method, _, op in _operations(await _document(api)) if method == "GET"]
    assert len(reads) >= 8
    for operation in reads:
        declared = set(operation["responses"]) & {"409", "413", "429"}
        assert not declared, (operation["operationId"], declared)


async def test_only_writes_to_v1_declare_429_and_only_json_bodies_413(api: Api) -> None:
    for method, path, operation in _operations(await _document(api)):
        responses = operation["responses"]
        writes_v1 = method != "GET" and path.startswith("/v1/")
        assert ("429" in responses) == writes_v1, (method, path)
        # An upload limits itself: over 10 MiB is a 422 refusal, not a 413.
        assert ("413" in responses) == (method != "GET" and path != "/v1/attachments"), path


async def test_a_replayed_refusal_is_declared_with_the_replayed_header(api: Api) -> None:
    for method, path, operation in _operations(await _document(api)):
        responses = operation["responses"]
        reused = "idempotency-key-reused" in responses.get("422", {}).get("description", "")
        assert reused == _idempotent(operation), (method, path)
        for status in ("404", "409", "422") if _idempotent(operation) else ():
            assert "Idempotent-Replayed" in responses[status].get("headers", {}), (path, status)


async def test_a_repeated_refused_command_answers_the_refusal_marked_replayed(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party)
    case = (
        await api.http.post(
            "/v1/consultations", json=create_body(party, message="Rash."), headers=party.service
        )
    ).json()
    headers = {**party.service, "Idempotency-Key": unique("key")}
    url = f"/v1/consultations/{case['id']}/patient-replies"
    # The case awaits the clinician: a follow-up is refused by the workflow, which keeps it.
    first = await api.http.post(url, json={"body": "More.", "attachment_ids": []}, headers=headers)
    again = await api.http.post(url, json={"body": "More.", "attachment_ids": []}, headers=headers)

    assert assert_problem(first, 409)["type"] == "urn:econsult:problem:invalid-transition"
    assert "Idempotent-Replayed" not in first.headers
    assert again.status_code == 409 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
