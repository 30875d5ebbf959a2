"""A practice's record system behind HelseID: the service authenticates with a client assertion
signed by the practice's key (RFC 7523), and with DPoP gets tokens bound to a key of its own,
each request carrying a fresh proof (RFC 9449).

The token endpoint and the FHIR server are written in the test from the RFCs
(tests/integrations/helseid_server.py); they verify what the service sends with PyJWT, on their
own reading. The practice's record is in the case store and its key a file in its folder, as
the API keeps them; entries go through the forwarding activity as the worker runs it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.endpoints import PracticeEndpoints, SecretUnavailableError
from activities.fhir import RecordSystemActivities, RecordSystemUnavailableError
from activities.fhir_resources import FhirSystems
from dev.harness.ports import serving
from domain.effects import JournalEntryInput, JournalForward
from infra.outbound import OutboundPolicy
from infra.secrets import SecretsDirectory
from infra.settings import Settings
from store.attachments import Attachments
from store.journal import JournalTable
from store.practices import Practice, PracticeRecordSystem, Practices, RecordSystemAuth
from tests.integrations.helseid_server import HelseIdServer, b64url, jwk_thumbprint
from tests.integrations.receivers import FhirServer
from tests.support import captured_logs, journal_entry

SETTINGS = Settings()
KEY_FILE = "helseid-key"
# The receivers listen on loopback, the region's own network here.
LOCAL_NETWORKS = "127.0.0.0/8"
CLIENT_ID = "econsult-legesenteret-4f1c"


def private_jwk(algorithm: str, kid: str | None = None) -> dict[str, Any]:
    """A fresh private JWK of the kind HelseID's self-service portal makes."""
    if algorithm == "ES256":
        key: Any = ec.generate_private_key(ec.SECP256R1())
        members: dict[str, Any] = ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        members = RSAAlgorithm.to_jwk(key, as_dict=True)
    return members | {"alg": algorithm, "kid": kid or uuid.uuid4().hex}


def public_part(jwk: dict[str, Any]) -> dict[str, Any]:
    """What the vendor uploads to HelseID: the JWK without its private members."""
    private = {"d", "p", "q", "dp", "dq", "qi"}
    return {name: value for name, value in jwk.items() if name not in private}


@dataclass
class PracticeRecordSystemUnderTest:
    practice_id: str
    server: Any
    journal: JournalTable
    activities: RecordSystemActivities
    practices: Practices
    folder: Path

    async def forward(self) -> str:
        """Journal a new entry and forward it once (one activity attempt); its key."""
        entry = practice_entry(self.practice_id)
        await self.journal.write(entry)
        await self.attempt(entry.entry_key)
        return entry.entry_key

    async def attempt(self, entry_key: str) -> None:
        await ActivityEnvironment().run(
            self.activities.forward_journal_entry, JournalForward(entry_key=entry_key)
        )

    def stored(self, entry_key: str) -> bool:
        return f"{SETTINGS.fhir_entry_system}|{entry_key}" in self.server.resources


def practice_entry(practice_id: str) -> JournalEntryInput:
    """A patient's message to the practice's clinician, for its record system."""
    return journal_entry(practice_id=practice_id, recipient_id="9144889")


async def keep_practice(
    practices: Practices, practice_id: str, server: Any, **record_system: Any
) -> None:
    """The practice's record as `PUT /v1/practices` keeps it (the key by its file's name)."""
    own = PracticeRecordSystem(
        fhir_base_url=f"{server.fhir_url}/fhir",
        token_url=server.token_url,
        client_id=CLIENT_ID,
        **record_system,
    )
    await practices.put(Practice(practice_id=practice_id, name="Legesenteret", record_system=own))


@asynccontextmanager
async def practice_behind(
    server: Any, sessions: async_sessionmaker[AsyncSession], secrets: Path, **record_system: Any
) -> AsyncIterator[PracticeRecordSystemUnderTest]:
    """A practice whose record system is `server`, its record kept with `record_system`."""
    practice_id = f"practice-{uuid.uuid4().hex[:8]}"
    folder = secrets / practice_id
    folder.mkdir()
    practices = Practices(sessions)
    endpoints = PracticeEndpoints(
        practices, SecretsDirectory(secrets), OutboundPolicy.from_setting(LOCAL_NETWORKS)
    )
    systems = FhirSystems(
        entry=SETTINGS.fhir_entry_system,
        consultation=SETTINGS.fhir_consultation_system,
        attachments_url="https://econsult.example",
    )
    journal = JournalTable(sessions)
    activities = RecordSystemActivities(journal, Attachments(sessions), None, systems, endpoints)
    # The token endpoint and the FHIR server on hosts of their own, as HelseID and a record
    # system are: each keeps its own DPoP nonce.
    async with serving(server.app(), 0) as sts_url, serving(server.app(), 0) as fhir_url:
        server.base_url, server.fhir_url = sts_url, fhir_url
        await keep_practice(practices, practice_id, server, **record_system)
        yield PracticeRecordSystemUnderTest(
            practice_id, server, journal, activities, practices, folder
        )


@dataclass
class BasicRecordSystem(FhirServer):
    """The record system of tests/integrations/receivers.py, which takes HTTP Basic only."""

    base_url: str = ""
    fhir_url: str = ""

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    path = tmp_path / "secrets"
    path.mkdir()
    return path


def helseid(jwk: dict[str, Any], **behaviour: Any) -> HelseIdServer:
    return HelseIdServer(client_id=CLIENT_ID, client_jwk=public_part(jwk), **behaviour)


def write_key(secrets: Path, practice_id: str, jwk: dict[str, Any], name: str = KEY_FILE) -> None:
    (secrets / practice_id / name).write_text(json.dumps(jwk))


@asynccontextmanager
async def helseid_practice(
    sessions: async_sessionmaker[AsyncSession],
    secrets: Path,
    jwk: dict[str, Any],
    *,
    dpop: bool = False,
    **behaviour: Any,
) -> AsyncIterator[PracticeRecordSystemUnderTest]:
    """A practice on private_key_jwt, its key file written before its first delivery."""
    async with practice_behind(
        helseid(jwk, dpop=dpop, **behaviour),
        sessions,
        secrets,
        auth=RecordSystemAuth.PRIVATE_KEY_JWT,
        client_assertion_key_ref=KEY_FILE,
        dpop=dpop,
    ) as practice:
        write_key(secrets, practice.practice_id, jwk)
        yield practice


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256"])
async def test_a_client_assertion_is_signed_with_the_practices_key_as_rfc_7523_asks(
    sessions: async_sessionmaker[AsyncSession], secrets: Path, algorithm: str
) -> None:
    jwk = private_jwk(algorithm)
    async with helseid_practice(sessions, secrets, jwk) as practice:
        entry_key = await practice.forward()

    server = practice.server
    assert practice.stored(entry_key)
    [assertion] = server.assertions
    assert assertion.accepted
    assert assertion.header == {"alg": algorithm, "kid": jwk["kid"], "typ": "JWT"}
    claims = assertion.claims
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == server.token_url
    assert 0 < claims["exp"] - claims["iat"] <= 60
    assert claims["jti"]
    [create] = server.creates
    assert create["authorization"].startswith("Bearer ")
    assert "dpop" not in create


async def test_a_dpop_bound_token_is_used_with_a_fresh_proof_per_request_and_the_servers_nonces(
    sessions: async_sessionmaker[AsyncSession], secrets: Path
) -> None:
    jwk = private_jwk("ES256")
    async with helseid_practice(
        sessions, secrets, jwk, dpop=True, nonce_at_token=True, nonce_at_fhir=True
    ) as practice:
        first = await practice.forward()
        second = await practice.forward()

    server = practice.server
    assert practice.stored(first) and practice.stored(second)
    # One token, asked twice: the first request was answered with the nonce to use.
    [token] = server.tokens_issued
    assert len(server.assertions) == 2
    assert len({assertion.claims["jti"] for assertion in server.assertions}) == 2
    token_proofs = [p for p in server.proofs if p["claims"]["htu"] == server.token_url]
    fhir_proofs = [p for p in server.proofs if p["claims"]["htu"] != server.token_url]
    assert [p["claims"].get("nonce") for p in token_proofs] == [None, server.nonce]
    # The first create was challenged for the FHIR server's nonce, then carried it.
    assert [p["claims"].get("nonce") for p in fhir_proofs] == [None] + [server.fhir_nonce] * 2
    keys = {jwk_thumbprint(p["header"]["jwk"]) for p in server.proofs}
    assert keys == {token["cnf"]["jkt"]}
    assert len({p["claims"]["jti"] for p in server.proofs}) == len(server.proofs)
    for create in server.creates:
        scheme, _, access_token = create["authorization"].partition(" ")
        assert scheme == "DPoP"
        claims = jwt.decode(create["dpop"], options={"verify_signature": False})
        assert claims["htm"] == "POST"
        assert claims["htu"] == f"{server.fhir_url}/fhir/Communication"
        assert claims["ath"] == b64url(hashlib.sha256(access_token.encode()).digest())


@pytest.mark.parametrize(
    ("refusal", "because"),
    [({"skew_next": 120.0}, "assertion expired"), ({"replay_next": True}, "assertion replayed")],
    ids=["expired", "replayed"],
)
async def test_a_refused_assertion_is_never_sent_again_the_next_attempt_signs_a_fresh_one(
    sessions: async_sessionmaker[AsyncSession],
    secrets: Path,
    refusal: dict[str, Any],
    because: str,
) -> None:
    jwk = private_jwk("RS256")
    async with helseid_practice(sessions, secrets, jwk, dpop=True, **refusal) as practice:
        entry = practice_entry(practice.practice_id)
        await practice.journal.write(entry)
        with pytest.raises(RecordSystemUnavailableError, match="invalid_client"):
            await practice.attempt(entry.entry_key)
        assert not practice.stored(entry.entry_key)

        await practice.attempt(entry.entry_key)

    refused, accepted = practice.server.assertions
    assert (refused.accepted, accepted.accepted) == (False, True)
    assert refused.refused_because is not None and refused.refused_because.startswith(because)
    assert refused.claims["jti"] != accepted.claims["jti"]
    assert accepted.claims["iat"] >= refused.claims["iat"]
    assert practice.stored(entry.entry_key)


async def test_a_bearer_token_where_dpop_was_asked_for_is_not_used(
    sessions: async_sessionmaker[AsyncSession], secrets: Path
) -> None:
    async with helseid_practice(
        sessions, secrets, private_jwk("ES256"), dpop=True, ignore_dpop=True
    ) as practice:
        entry = practice_entry(practice.practice_id)
        await practice.journal.write(entry)
        with pytest.raises(RecordSystemUnavailableError, match="not a DPoP-bound one"):
            await practice.attempt(entry.entry_key)

    assert practice.server.tokens_issued and not practice.server.creates


async def test_a_rotated_key_signs_from_the_put_that_names_its_file(
    sessions: async_sessionmaker[AsyncSession], secrets: Path
) -> None:
    old, new = private_jwk("RS256", kid="2026-key"), private_jwk("ES256", kid="2027-key")
    async with helseid_practice(sessions, secrets, old) as practice:
        await practice.forward()
        # Registered at HelseID first, then the new file, then the PUT naming it.
        practice.server.client_jwk = public_part(new)
        write_key(secrets, practice.practice_id, new, "helseid-key-2027")
        await keep_practice(
            practice.practices,
            practice.practice_id,
            practice.server,
            auth=RecordSystemAuth.PRIVATE_KEY_JWT,
            client_assertion_key_ref="helseid-key-2027",
        )
        entry_key = await practice.forward()

    assert practice.stored(entry_key)
    kids = [assertion.header["kid"] for assertion in practice.server.assertions]
    assert kids == ["2026-key", "2027-key"]


async def test_a_record_system_outside_helseid_still_gets_the_client_secret_as_basic(
    sessions: async_sessionmaker[AsyncSession], secrets: Path
) -> None:
    server = BasicRecordSystem(client_id=CLIENT_ID)
    async with practice_behind(
        server, sessions, secrets, client_secret_ref="epj-client", scope="journal.write"
    ) as practice:
        (practice.folder / "epj-client").write_text(server.client_secret + "\n")
        entry_key = await practice.forward()

    assert practice.stored(entry_key)
    assert server.tokens_issued == 1


async def test_the_private_key_reaches_no_log_and_no_error(
    sessions: async_sessionmaker[AsyncSession], secrets: Path
) -> None:
    jwk = private_jwk("RS256")
    secret_members = [jwk[name] for name in ("d", "p", "q", "dp", "dq", "qi")]
    errors: list[str] = []
    with captured_logs() as logs:
        async with helseid_practice(sessions, secrets, jwk, replay_next=True) as practice:
            entry = practice_entry(practice.practice_id)
            await practice.journal.write(entry)
            with pytest.raises(RecordSystemUnavailableError) as refused:
                await practice.attempt(entry.entry_key)
            errors.append(repr(refused.value))
            (practice.folder / KEY_FILE).write_text(json.dumps(public_part(jwk)))
            with pytest.raises(SecretUnavailableError) as unusable:
                await practice.attempt(entry.entry_key)
            errors.append(repr(unusable.value))
            write_key(secrets, practice.practice_id, jwk)
            await practice.attempt(entry.entry_key)

    assert practice.stored(entry.entry_key)
    assert "a public key only" in errors[1] and KEY_FILE in errors[1]
    shown = logs.getvalue() + "".join(errors)
    assert KEY_FILE in logs.getvalue()
    assert not [member for member in secret_members if member in shown]
