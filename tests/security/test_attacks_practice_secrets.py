"""Attacks on practices' secrets: a region admin setting up practice B names practice A's
secret file, so the worker would send A's client secret to B's token URL and sign B's webhooks
with A's key. A reference resolves only in the practice's own folder,
ECONSULT_SECRETS_DIR/<practice_id>/ (docs/guide-operator.md), and a practice id is a plain name.

Each secret is laid out in the practice's folder and, where the attack needs it, at the top of
the directory as the old flat layout held it: the attack then means the same against the code
before the fix (where it succeeded) as after.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.endpoints import PracticeEndpoints, SecretUnavailableError
from infra.secrets import secrets_directory
from store.practices import Practice, PracticeRecordSystem, Practices, PracticeWebhook
from tests.api.support import (
    Api,
    Party,
    api_over_http,
    assert_problem,
    clinician_body,
    create,
    seed_clinicians,
    unique,
)
from tests.integrations.receivers import new_secret

A_CLIENT_SECRET = "practice-a-client-secret-0123456789"
A_WEBHOOK_KEY = new_secret()
# The practices' endpoints resolve to loopback, which this API is told is the region's own.
LOCAL_NETWORKS = "127.0.0.0/8,::1/128"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secrets")


@pytest.fixture(scope="module")
async def secrets_api(
    dev_env: WorkflowEnvironment, postgres_url: str, root: Path
) -> AsyncIterator[Api]:
    settings = {"econsult_secrets_dir": str(root), "outbound_allowed_networks": LOCAL_NETWORKS}
    async with api_over_http(dev_env.client, postgres_url, settings=settings) as stack:
        yield stack


def lay_out(root: Path, practice: str, files: dict[str, str], *, flat: bool = False) -> Path:
    """The practice's files in its folder (and at the top too, as the old layout held them)."""
    folder = root / practice
    folder.mkdir(exist_ok=True)
    for name, secret in files.items():
        (folder / name).write_text(secret + "\n")
        if flat:
            (root / name).write_text(secret + "\n")
    return folder


def practice_a(root: Path) -> tuple[str, Path]:
    """Practice A with its client secret and webhook key, flat and in its folder."""
    a = unique("practice")
    folder = lay_out(root, a, {"a-epj": A_CLIENT_SECRET, "a-hook": A_WEBHOOK_KEY}, flat=True)
    return a, folder


def b_body(epj_ref: str = "b-epj", hook_ref: str = "b-hook") -> dict[str, Any]:
    return {
        "name": "B",
        "webhook": {"url": "https://localhost/b/hooks", "secret_refs": [hook_ref]},
        "record_system": {
            "fhir_base_url": "https://localhost/b/fhir",
            "token_url": "https://localhost/b/token",
            "client_id": "econsult-b",
            "client_secret_ref": epj_ref,
        },
    }


async def put_b(api: Api, root: Path, body: dict[str, Any]) -> tuple[Party, Any]:
    """Practice B, with its own files, PUT naming what `body` names."""
    b = api.party()
    lay_out(root, b.practice, {"b-epj": "b-client-secret", "b-hook": new_secret()}, flat=True)
    url = f"/v1/practices/{b.practice}"
    return b, await api.http.put(url, json=body, headers=b.admin)


async def assert_refused_and_nothing_kept(api: Api, b: Party, response: Any) -> None:
    problem = assert_problem(response, 422)
    assert A_CLIENT_SECRET not in response.text and A_WEBHOOK_KEY not in response.text
    assert "secret" in problem["detail"]
    assert_problem(await api.http.get(f"/v1/practices/{b.practice}", headers=b.admin), 404)


async def test_another_practices_client_secret_by_name_is_refused(
    secrets_api: Api, root: Path
) -> None:
    practice_a(root)

    b, response = await put_b(secrets_api, root, b_body(epj_ref="a-epj"))

    await assert_refused_and_nothing_kept(secrets_api, b, response)


async def test_another_practices_webhook_key_by_name_is_refused(
    secrets_api: Api, root: Path
) -> None:
    practice_a(root)

    b, response = await put_b(secrets_api, root, b_body(hook_ref="a-hook"))

    await assert_refused_and_nothing_kept(secrets_api, b, response)


async def test_another_practices_secret_by_dot_dot_is_refused(secrets_api: Api, root: Path) -> None:
    a, _ = practice_a(root)

    b, response = await put_b(secrets_api, root, b_body(epj_ref=f"../{a}/a-epj"))

    assert_problem(response, 422)
    assert_problem(await secrets_api.http.get(f"/v1/practices/{b.practice}", headers=b.admin), 404)


async def test_another_practices_secret_by_absolute_path_is_refused(
    secrets_api: Api, root: Path
) -> None:
    _, folder = practice_a(root)

    b, response = await put_b(secrets_api, root, b_body(epj_ref=str(folder / "a-epj")))

    assert_problem(response, 422)
    assert_problem(await secrets_api.http.get(f"/v1/practices/{b.practice}", headers=b.admin), 404)


async def test_another_practices_secret_by_a_link_out_of_the_folder_is_refused(
    secrets_api: Api, root: Path
) -> None:
    _, folder = practice_a(root)
    b = secrets_api.party()
    own = lay_out(root, b.practice, {"b-hook": new_secret()}, flat=True)
    # A link among B's files (in its folder, and at the top as the flat layout had them).
    for place in (own, root):
        (place / f"{b.practice}-epj").symlink_to(folder / "a-epj")
    body = b_body(epj_ref=f"{b.practice}-epj")

    response = await secrets_api.http.put(f"/v1/practices/{b.practice}", json=body, headers=b.admin)

    await assert_refused_and_nothing_kept(secrets_api, b, response)
    assert "out of the practice's folder" in response.json()["detail"]


async def test_a_link_that_stays_in_the_folder_is_followed_as_kubernetes_mounts_it(
    secrets_api: Api, root: Path
) -> None:
    b = secrets_api.party()
    folder = lay_out(root, b.practice, {"b-hook": new_secret()})
    (folder / "..2026_12_07").mkdir()
    (folder / "..2026_12_07" / "b-epj").write_text("b-client-secret\n")
    (folder / "..data").symlink_to("..2026_12_07")
    (folder / "b-epj").symlink_to(os.path.join("..data", "b-epj"))

    response = await secrets_api.http.put(
        f"/v1/practices/{b.practice}", json=b_body(), headers=b.admin
    )

    assert response.status_code == 200, response.text


BAD_PRACTICE_IDS = {
    "dot-dot": "..",
    "dot": ".",
    "hidden": ".hidden",
    "leading-dash": "-p",
    "space": "prak sis",
    "too-long": "p" * 65,
    "not-ascii": "legesenter\u00e9t",
    "backslash": "a\\..\\b",
    "trailing-newline": "praksis\n",
}


@pytest.mark.parametrize("practice_id", BAD_PRACTICE_IDS.values(), ids=BAD_PRACTICE_IDS.keys())
async def test_a_practice_path_that_cannot_name_a_folder_is_refused(
    secrets_api: Api, practice_id: str
) -> None:
    admin = secrets_api.party().admin
    # Percent-encoded, so the id reaches the API as it is (no client-side dot segments).
    path = "/v1/practices/" + "".join(f"%{byte:02X}" for byte in practice_id.encode())

    response = await secrets_api.http.put(path, json={"name": "X"}, headers=admin)

    assert_problem(response, 422)
    assert_problem(await secrets_api.http.get(path, headers=admin), 422)


@pytest.mark.parametrize(
    "practice_id",
    [*BAD_PRACTICE_IDS.values(), "../practice-a", "/etc"],
    ids=[*BAD_PRACTICE_IDS.keys(), "dot-dot-path", "absolute"],
)
async def test_a_clinicians_practice_that_cannot_name_a_folder_is_refused(
    secrets_api: Api, practice_id: str
) -> None:
    party = secrets_api.party()
    url = f"/v1/clinicians/{party.clinician}"

    response = await secrets_api.http.put(
        url, json=clinician_body(practice_id), headers=party.admin
    )

    assert_problem(response, 422)
    assert_problem(await secrets_api.http.get(url, headers=party.doctor), 404)


async def test_a_stored_reference_to_another_practices_secret_is_never_read_at_delivery(
    sessions: async_sessionmaker[AsyncSession], root: Path
) -> None:
    """A record kept before the fix (or written around the API) naming A's file: the worker
    refuses to read it, so A's secret never goes to B's token URL or signs B's webhooks."""
    _, folder = practice_a(root)
    b = unique("practice")
    lay_out(root, b, {"b-hook": new_secret()})
    (root / b / "b-link").symlink_to(folder / "a-epj")
    endpoints = PracticeEndpoints(Practices(sessions), secrets_directory(str(root)), fresh_for=0)
    for reference in ("a-epj", "b-link"):
        record = Practice(
            practice_id=b,
            name="B",
            webhook=PracticeWebhook(url="https://localhost/b", secret_refs=["a-hook"]),
            record_system=PracticeRecordSystem(
                fhir_base_url="https://localhost/b/fhir",
                token_url="https://localhost/b/token",
                client_id="econsult-b",
                client_secret_ref=reference,
            ),
        )
        await Practices(sessions).put(record)

        with pytest.raises(SecretUnavailableError):
            await endpoints.record_system(b)
        with pytest.raises(SecretUnavailableError):
            await endpoints.webhook(b)


async def test_a_stored_practice_id_that_names_a_folder_outside_is_never_read(
    sessions: async_sessionmaker[AsyncSession], root: Path
) -> None:
    """A practice record kept under `..` (before ids were checked): its folder would be the
    directory's parent; nothing there is read."""
    (root.parent / "leaked").write_text(A_CLIENT_SECRET)
    endpoints = PracticeEndpoints(Practices(sessions), secrets_directory(str(root)), fresh_for=0)
    record_system = PracticeRecordSystem(
        fhir_base_url="https://localhost/x/fhir",
        token_url="https://localhost/x/token",
        client_id="x",
        client_secret_ref="leaked",
    )
    await Practices(sessions).put(
        Practice(practice_id="..", name="Up", record_system=record_system)
    )

    with pytest.raises(SecretUnavailableError):
        await endpoints.record_system("..")


@pytest.mark.parametrize(
    "claim",
    ["../{practice}", "{practice}/.", "./{practice}", "{practice}\n"],
    ids=["dot-dot", "trailing-dot", "leading-dot", "trailing-newline"],
)
async def test_a_practice_claim_shaped_like_a_path_is_refused_as_malformed(
    secrets_api: Api, claim: str
) -> None:
    """A practice id also names a folder of secrets: a token whose practice claim could name
    anything else is malformed (401), and the consultation stays where it was."""
    http, party = secrets_api.http, secrets_api.party()
    await seed_clinicians(http, party)
    case = await create(http, party)
    headers = party.practice_admin(claim.format(practice=party.practice))

    response = await http.post(
        f"/v1/consultations/{case['id']}/reassign",
        json={"recipient_id": party.substitute, "reason": "Dr. Fastlege is ill."},
        headers=headers,
    )

    assert_problem(response, 401)
    kept = await http.get(f"/v1/consultations/{case['id']}", headers=party.doctor)
    assert kept.json()["recipient_id"] == party.clinician
