"""Practices over HTTP: admins keep each practice's record, its decline text and its own
endpoints, whose secrets are named by file and never stored or answered."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from store.tables import Practice as PracticeRow
from tests.api.support import Api, Party, api_over_http, assert_problem
from tests.integrations.receivers import new_secret


async def test_an_admin_puts_a_practice_and_reads_it_back(any_api: Api) -> None:
    http, party = any_api.http, any_api.party()
    url = f"/v1/practices/{party.practice}"
    body = {"name": "Legesenteret", "decline_message": "  Dette passer best for en time.  "}

    put = await http.put(url, json=body, headers=party.admin)

    assert put.status_code == 200, put.text
    assert put.json() == {
        "practice_id": party.practice,
        "name": "Legesenteret",
        "decline_message": "Dette passer best for en time.",
        "webhook": None,
        "record_system": None,
        "accepts_econsultations": True,
        "closed_days": [],
    }
    read = await http.get(url, headers=party.admin)
    assert (read.status_code, read.json()) == (200, put.json())


async def test_a_second_put_replaces_the_practice_and_clears_what_it_leaves_out(
    api: Api,
) -> None:
    http, party = api.http, api.party()
    url = f"/v1/practices/{party.practice}"
    first = {"name": "Legesenteret", "decline_message": "Ring oss."}
    assert (await http.put(url, json=first, headers=party.admin)).status_code == 200

    put = await http.put(url, json={"name": "Legesenteret Sentrum"}, headers=party.admin)

    assert put.status_code == 200, put.text
    read = (await http.get(url, headers=party.admin)).json()
    assert read == {
        "practice_id": party.practice,
        "name": "Legesenteret Sentrum",
        "decline_message": None,
        "webhook": None,
        "record_system": None,
        "accepts_econsultations": True,
        "closed_days": [],
    }


async def test_a_practice_without_a_record_is_not_found(api: Api) -> None:
    party = api.party()

    assert_problem(await api.http.get(f"/v1/practices/{party.practice}", headers=party.admin), 404)


async def test_only_an_admin_keeps_practices(api: Api) -> None:
    http, party = api.http, api.party()
    url = f"/v1/practices/{party.practice}"
    for caller in (party.service, party.doctor, party.practice_admin()):
        assert_problem(await http.put(url, json={"name": "Mine"}, headers=caller), 403)
        assert_problem(await http.get(url, headers=caller), 403)
    assert_problem(await http.get(url, headers=party.admin), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "   "},
        {"name": ""},
        {},
        {"name": "Legesenteret", "decline_message": " \n "},
        {"name": "Legesenteret", "decline_message": "x" * 5001},
        {"name": "Legesenteret", "webhook_url": "https://example.org"},
    ],
    ids=["blank-name", "empty-name", "no-name", "blank-decline", "long-decline", "unknown-field"],
)
async def test_a_bad_practice_is_refused_with_a_problem(api: Api, body: dict[str, str]) -> None:
    party = api.party()

    response = await api.http.put(f"/v1/practices/{party.practice}", json=body, headers=party.admin)

    assert_problem(response, 422)
    assert_problem(await api.http.get(f"/v1/practices/{party.practice}", headers=party.admin), 404)


# --- A practice's own endpoints, secrets by reference -------------------------------------

CLIENT_SECRET = "record-system-client-secret-0123456789"
HELSEID_KEY: dict[str, Any] = ECAlgorithm.to_jwk(
    ec.generate_private_key(ec.SECP256R1()), as_dict=True
) | {"kid": "helseid-2026", "alg": "ES256"}
# A private EC key on P-384 (ES384, which HelseID does not take).
RFC_JWK_P384 = json.dumps(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()), as_dict=True))


def public_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in jwk.items() if name != "d"}


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A secrets directory as a container mounts it: a folder per practice."""
    return tmp_path_factory.mktemp("secrets")


def practice_files(secrets_dir: Path, practice: str) -> Path:
    """The practice's own folder, one secret per file."""
    folder = secrets_dir / practice
    folder.mkdir()
    (folder / "practice-hook").write_text(new_secret() + "\n")
    (folder / "practice-hook-next").write_text(new_secret())
    (folder / "epj-client").write_text(CLIENT_SECRET + "\n")
    (folder / "not-a-key").write_text("hunter2\n")
    (folder / "empty").write_text("\n")
    (folder / "a-folder").mkdir()
    (folder / "helseid-key").write_text(json.dumps(HELSEID_KEY))
    (folder / "helseid-public").write_text(json.dumps(public_jwk(HELSEID_KEY)))
    (folder / "helseid-p384").write_text(RFC_JWK_P384)
    (folder / "helseid-hs256").write_text(
        json.dumps({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"})
    )
    (folder / "helseid-rs512").write_text(json.dumps(HELSEID_KEY | {"alg": "RS512"}))
    return folder


@pytest.fixture(scope="module")
async def secrets_api(
    dev_env: WorkflowEnvironment, postgres_url: str, secrets_dir: Path
) -> AsyncIterator[Api]:
    """The API with ECONSULT_SECRETS_DIR set, as docker-compose.yml runs it, and loopback as
    the region's own network (the endpoints below resolve there)."""
    settings = {
        "econsult_secrets_dir": str(secrets_dir),
        "outbound_allowed_networks": "127.0.0.0/8,::1/128",
    }
    async with api_over_http(dev_env.client, postgres_url, settings=settings) as stack:
        yield stack


@pytest.fixture
def practice(secrets_api: Api, secrets_dir: Path) -> Party:
    """A party whose practice has its folder of secrets."""
    party = secrets_api.party()
    practice_files(secrets_dir, party.practice)
    return party


def endpoints(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Legesenteret",
        "webhook": {
            "url": "https://localhost:8443/econsult/webhooks",
            "secret_refs": ["practice-hook", "practice-hook-next"],
        },
        "record_system": {
            "fhir_base_url": "https://localhost:9443/fhir",
            "token_url": "https://localhost:9443/connect/token",
            "client_id": "econsult-legesenteret",
            "client_secret_ref": "epj-client",
            "scope": "journal.write",
        },
    }
    body.update(overrides)
    return body


def secrets_in(folder: Path) -> list[str]:
    """Every secret the directory holds (an empty file holds none)."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    return [secret for secret in (path.read_text().strip() for path in files) if secret]


async def kept(api: Api, party: Party, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The practice's endpoints put (200) and read back the same: the answer, and each place
    they show: the PUT's answer, the GET's and the stored row."""
    url = f"/v1/practices/{party.practice}"
    put = await api.http.put(url, json=body, headers=party.admin)
    assert put.status_code == 200, put.text
    read = await api.http.get(url, headers=party.admin)
    assert (read.status_code, read.json()) == (200, put.json())
    async with api.sessions() as session:
        row = await session.scalar(
            select(PracticeRow).where(PracticeRow.practice_id == party.practice)
        )
    assert row is not None
    stored = repr([getattr(row, column.key) for column in PracticeRow.__table__.columns])
    answer: dict[str, Any] = put.json()
    return answer, [put.text, read.text, stored]


async def refused(api: Api, party: Party, body: dict[str, Any]) -> httpx.Response:
    """The practice's endpoints refused (422), and none kept (its GET is 404): the refusal."""
    url = f"/v1/practices/{party.practice}"
    response = await api.http.put(url, json=body, headers=party.admin)
    assert_problem(response, 422)
    assert_problem(await api.http.get(url, headers=party.admin), 404)
    return response


async def test_a_practice_keeps_its_endpoints_with_references_never_secrets(
    secrets_api: Api, secrets_dir: Path, practice: Party
) -> None:
    answer, shown = await kept(secrets_api, practice, endpoints())

    record_system = endpoints()["record_system"] | {
        "auth": "client_secret_basic",
        "client_assertion_key_ref": None,
        "dpop": False,
    }
    assert answer == {
        "practice_id": practice.practice,
        "decline_message": None,
        "accepts_econsultations": True,
        "closed_days": [],
        **endpoints(record_system=record_system),
    }
    for secret in secrets_in(secrets_dir):
        assert all(secret not in place for place in shown)


async def test_a_practice_without_endpoints_clears_the_ones_it_had(
    secrets_api: Api, practice: Party
) -> None:
    http, party = secrets_api.http, practice
    url = f"/v1/practices/{party.practice}"
    assert (await http.put(url, json=endpoints(), headers=party.admin)).status_code == 200

    put = await http.put(url, json={"name": "Legesenteret"}, headers=party.admin)

    assert put.status_code == 200, put.text
    read = (await http.get(url, headers=party.admin)).json()
    assert (read["webhook"], read["record_system"]) == (None, None)


async def test_naming_a_secret_without_a_secrets_directory_is_refused(api: Api) -> None:
    http, party = api.http, api.party()
    url = f"/v1/practices/{party.practice}"
    for body in (
        endpoints(record_system=None),
        endpoints(webhook=None),
    ):
        problem = assert_problem(await http.put(url, json=body, headers=party.admin), 422)
        assert "ECONSULT_SECRETS_DIR" in problem["detail"]
    assert_problem(await http.get(url, headers=party.admin), 404)


def with_webhook_refs(*refs: str) -> dict[str, Any]:
    return endpoints(webhook={"url": "https://localhost:8443/hooks", "secret_refs": refs})


def with_client_secret_ref(ref: str) -> dict[str, Any]:
    record_system = dict(endpoints()["record_system"], client_secret_ref=ref)
    return endpoints(record_system=record_system)


@pytest.mark.parametrize(
    ("body", "reference"),
    [
        (with_webhook_refs("practice-hook", "missing-hook"), "missing-hook"),
        (with_webhook_refs("not-a-key"), "not-a-key"),
        (with_webhook_refs("epj-client"), "epj-client"),
        (with_webhook_refs("empty"), "empty"),
        (with_webhook_refs("a-folder"), "a-folder"),
        (with_client_secret_ref("missing-client"), "missing-client"),
        (with_client_secret_ref("empty"), "empty"),
        (with_client_secret_ref("a-folder"), "a-folder"),
    ],
    ids=[
        "webhook-missing-file",
        "webhook-not-a-whsec-key",
        "webhook-client-secret-as-key",
        "webhook-empty-file",
        "webhook-unreadable",
        "client-secret-missing-file",
        "client-secret-empty-file",
        "client-secret-unreadable",
    ],
)
async def test_a_reference_that_does_not_resolve_is_refused_naming_it_not_a_secret(
    secrets_api: Api, secrets_dir: Path, practice: Party, body: dict[str, Any], reference: str
) -> None:
    response = await refused(secrets_api, practice, body)

    assert reference in response.json()["detail"]
    assert all(secret not in response.text for secret in secrets_in(secrets_dir))


@pytest.mark.parametrize(
    "body",
    [
        with_webhook_refs("../etc/passwd"),
        with_webhook_refs(".hidden"),
        with_webhook_refs(),
        with_client_secret_ref("sub/dir"),
        endpoints(webhook={"url": "ftp://localhost", "secret_refs": ["practice-hook"]}),
        endpoints(webhook={"url": "https://localhost", "secret": "whsec_abc"}),
        endpoints(record_system={"fhir_base_url": "https://localhost/fhir"}),
        with_client_secret_ref(CLIENT_SECRET + " "),
    ],
    ids=[
        "path-outside",
        "hidden-file",
        "no-webhook-secret",
        "path-below",
        "not-http",
        "secret-inline",
        "record-system-incomplete",
        "secret-as-reference",
    ],
)
async def test_a_malformed_endpoint_is_refused_with_a_problem(
    secrets_api: Api, practice: Party, body: dict[str, Any]
) -> None:
    await refused(secrets_api, practice, body)


async def test_a_practice_without_its_own_folder_of_secrets_is_refused_naming_it(
    secrets_api: Api,
) -> None:
    """The flat layout of old (files at the top of the directory) names no practice's file."""
    party = secrets_api.party()

    response = await refused(secrets_api, party, endpoints())

    assert f"no folder {party.practice}/" in response.json()["detail"]


async def test_a_public_https_endpoint_is_kept(secrets_api: Api, practice: Party) -> None:
    """Outside the region's own networks, https to a public address is what a practice uses."""
    url = f"/v1/practices/{practice.practice}"
    body = endpoints(webhook={"url": "https://8.8.8.8/hooks", "secret_refs": ["practice-hook"]})

    put = await secrets_api.http.put(url, json=body, headers=practice.admin)

    assert put.status_code == 200, put.text


def helseid_record_system(**overrides: Any) -> dict[str, Any]:
    """A record system behind HelseID: a client assertion signed with the practice's key."""
    record_system = dict(endpoints()["record_system"], auth="private_key_jwt", dpop=True)
    del record_system["client_secret_ref"]
    return endpoints(
        record_system=record_system | {"client_assertion_key_ref": "helseid-key"} | overrides
    )


async def test_a_helseid_record_system_is_kept_with_its_key_by_reference_never_the_key(
    secrets_api: Api, secrets_dir: Path, practice: Party
) -> None:
    answer, shown = await kept(secrets_api, practice, helseid_record_system())

    assert answer["record_system"] == {
        **endpoints()["record_system"],
        "auth": "private_key_jwt",
        "client_secret_ref": None,
        "client_assertion_key_ref": "helseid-key",
        "dpop": True,
    }
    for place in shown:
        assert HELSEID_KEY["d"] not in place and HELSEID_KEY["x"] not in place


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (helseid_record_system(client_assertion_key_ref="missing-key"), "no such file"),
        (helseid_record_system(client_assertion_key_ref="a-folder"), "unreadable"),
        (helseid_record_system(client_assertion_key_ref="helseid-public"), "a public key only"),
        (helseid_record_system(client_assertion_key_ref="helseid-p384"), "P-256"),
        (helseid_record_system(client_assertion_key_ref="helseid-hs256"), "not an RSA or EC"),
        (
            helseid_record_system(client_assertion_key_ref="helseid-rs512"),
            "not RS256, PS256 or ES256",
        ),
        (helseid_record_system(client_assertion_key_ref="epj-client"), "not a JSON Web Key"),
    ],
    ids=["missing", "unreadable", "public-only", "p384", "symmetric", "rs512", "not-a-jwk"],
)
async def test_a_client_assertion_key_that_cannot_sign_for_helseid_is_refused_naming_it(
    secrets_api: Api, secrets_dir: Path, practice: Party, body: dict[str, Any], reason: str
) -> None:
    response = await refused(secrets_api, practice, body)

    problem = response.json()
    assert problem["type"] == "urn:econsult:problem:refused"
    reference = body["record_system"]["client_assertion_key_ref"]
    assert "record_system.client_assertion_key_ref" in problem["detail"]
    assert reference in problem["detail"] and reason in problem["detail"]
    assert all(secret not in response.text for secret in secrets_in(secrets_dir))
    assert HELSEID_KEY["d"] not in response.text


async def test_a_key_in_another_practices_folder_is_refused(
    secrets_api: Api, secrets_dir: Path, practice: Party
) -> None:
    other = secrets_api.party()
    folder = secrets_dir / other.practice
    folder.mkdir()
    (folder / "their-key").write_text(json.dumps(HELSEID_KEY))
    body = helseid_record_system(client_assertion_key_ref="their-key")

    response = await refused(secrets_api, practice, body)

    assert "'their-key' does not resolve: no such file" in response.json()["detail"]


@pytest.mark.parametrize(
    ("record_system", "kind"),
    [
        # Which reference goes with which `auth` is a rule the document lists (x-refusals)...
        ({"client_assertion_key_ref": None}, "refused"),
        ({"client_secret_ref": "epj-client"}, "refused"),
        ({"auth": "client_secret_basic"}, "refused"),
        # ... a value of the wrong shape is the document's own.
        ({"auth": "client_secret_jwt"}, "validation"),
        ({"dpop": "yes"}, "validation"),
    ],
    ids=["no-key", "secret-too", "basic-with-a-key", "unknown-auth", "dpop-not-a-bool"],
)
async def test_a_record_system_whose_auth_lacks_its_credential_or_names_the_other_is_refused(
    secrets_api: Api, practice: Party, record_system: dict[str, Any], kind: str
) -> None:
    body = helseid_record_system(**record_system)
    body["record_system"] = {
        name: value for name, value in body["record_system"].items() if value is not None
    }

    response = await refused(secrets_api, practice, body)

    assert response.json()["type"] == f"urn:econsult:problem:{kind}"


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide-record-system.md"


def guide_key_example() -> str:
    """The Python block of the vendors' guide that makes a HelseID client key."""
    section = GUIDE.read_text().split("\n### A record system behind HelseID\n")[1]
    section = re.split(r"\n##+ ", section)[0]
    [block] = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return str(block)


async def test_the_guides_helseid_key_is_taken_by_the_put_and_its_public_half_verifies_it(
    secrets_api: Api, secrets_dir: Path, practice: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = secrets_dir / practice.practice
    monkeypatch.chdir(folder)
    (folder / "helseid-key").unlink()  # the guide makes the file, as on the vendor's machine
    example: dict[str, Any] = {}
    exec(guide_key_example(), example)  # noqa: S102 - the guide's own code, run as a reader would
    assert (folder / "helseid-key").stat().st_mode & 0o077 == 0  # a private key: the owner's only
    url = f"/v1/practices/{practice.practice}"

    put = await secrets_api.http.put(url, json=helseid_record_system(), headers=practice.admin)

    assert put.status_code == 200, put.text
    public, private = example["public"], json.loads((folder / "helseid-key").read_text())
    assert "d" not in public and public["kid"] == private["kid"]
    signed = jwt.encode({"sub": "x"}, jwt.PyJWK(private).key, algorithm=private["alg"])
    assert jwt.decode(signed, jwt.PyJWK(public).key, algorithms=[public["alg"]]) == {"sub": "x"}
