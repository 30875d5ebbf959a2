"""Round trips per command: the statements the API sends its case store, counted over HTTP.

A command's answer shows the case as the workflow answered it; only the thread (with the
read's access log entry) is read after it. An Idempotency-Key costs one claim and one answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.support import (
    PNG,
    Api,
    Party,
    assert_problem,
    create,
    create_body,
    seed_clinicians,
    unique,
    upload,
)

# Statements per command on PostgreSQL, without and with an Idempotency-Key. Without one, a
# command built from the request alone reads nothing first (the workflow refuses a stranger),
# one built from the case (its patient, its practice) reads it; the answer is one statement,
# the thread and its access log entry. A key adds its claim (which returns an earlier one),
# the case read (a replay is shown only to who may see the case) and the kept answer. Create
# and reassign also ask the directory (two statements and one).
POSTGRES_STATEMENTS = {
    "create": (3, 5),
    "submit": (1, 4),
    "clinician reply": (1, 4),
    "patient reply": (2, 4),
    "close": (1, 4),
    "reassign": (3, 5),
    "withdraw": (2, 4),
}


@contextmanager
def statements(api: Api) -> Iterator[list[str]]:
    """Every statement the API's engine sends while the block runs."""
    engine = api.sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def _statements_of(api: Api, url: str, headers: dict[str, str], body: Any = None) -> int:
    with statements(api) as sent:
        response = await api.http.post(url, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return len(sent)


async def _counted(api: Api, party: Party, keyed: bool) -> dict[str, int]:
    """Each command once, on cases of its own, with or without a key."""

    def keyed_if(headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "Idempotency-Key": unique("key")} if keyed else headers

    case = f"/v1/consultations/{(await create(api.http, party, message=None))['id']}"
    other = f"/v1/consultations/{(await create(api.http, party))['id']}"
    create_url, text = "/v1/consultations", {"body": "Rash."}
    return {
        "create": await _statements_of(
            api, create_url, keyed_if(party.service), create_body(party, message="Rash.")
        ),
        "submit": await _statements_of(api, f"{case}/submit", keyed_if(party.service), text),
        "clinician reply": await _statements_of(
            api, f"{case}/replies", keyed_if(party.doctor), text
        ),
        "patient reply": await _statements_of(
            api, f"{case}/patient-replies", keyed_if(party.service), text
        ),
        "close": await _statements_of(api, f"{case}/close", keyed_if(party.doctor)),
        "reassign": await _statements_of(
            api,
            f"{other}/reassign",
            keyed_if(party.practice_admin()),
            {"recipient_id": party.substitute, "reason": "Dr. Fastlege is ill."},
        ),
        "withdraw": await _statements_of(api, f"{other}/withdraw", keyed_if(party.service)),
    }


@pytest.mark.parametrize("keyed", [False, True], ids=["without key", "with key"])
async def test_each_command_reads_only_what_its_update_does_not_answer(
    api: Api, party: Party, keyed: bool
) -> None:
    await seed_clinicians(api.http, party)
    counted = await _counted(api, party, keyed)
    assert counted == {name: both[keyed] for name, both in POSTGRES_STATEMENTS.items()}


async def test_a_key_refused_before_its_command_was_sent_serves_the_corrected_retry(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party)
    case = await create(api.http, party, message=None)
    headers = {**party.service, "Idempotency-Key": unique("key")}
    url = f"/v1/consultations/{case['id']}/submit"
    refused = await api.http.post(
        url, json={"body": "Rash.", "attachment_ids": ["not-uploaded"]}, headers=headers
    )
    assert_problem(refused, 422)

    attachment = (await upload(api.http, party.service, PNG)).json()["id"]
    body = {"body": "Rash.", "attachment_ids": [attachment]}
    sent = await api.http.post(url, json=body, headers=headers)
    again = await api.http.post(url, json=body, headers=headers)

    assert sent.status_code == again.status_code == 200, sent.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == sent.json()
    [message] = sent.json()["messages"]
    assert [a["id"] for a in message["attachments"]] == [attachment]


async def test_a_command_on_an_unknown_case_is_404_with_or_without_a_key(
    api: Api, party: Party
) -> None:
    url = f"/v1/consultations/{unique('nowhere')}/submit"
    assert_problem(await api.http.post(url, json={"body": "Hi."}, headers=party.service), 404)
    keyed = {**party.service, "Idempotency-Key": unique("key")}
    assert_problem(await api.http.post(url, json={"body": "Hi."}, headers=keyed), 404)


async def test_a_command_answers_the_consultation_as_a_read_then_shows_it(
    api: Api, party: Party
) -> None:
    await seed_clinicians(api.http, party)
    case = await create(api.http, party)
    replied = await api.http.post(
        f"/v1/consultations/{case['id']}/replies", json={"body": "Cream."}, headers=party.doctor
    )
    read = await api.http.get(f"/v1/consultations/{case['id']}", headers=party.doctor)
    assert replied.status_code == read.status_code == 200
    shown = {**read.json(), "copayment": replied.json()["copayment"]}
    # The co-payment settles in the background, after the reply has answered.
    assert replied.json() == shown
