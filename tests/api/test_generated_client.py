"""A client generated from /openapi.json as a portal team would generate it (docs/guide-portal.md,
"Generating a client"): it builds without a warning, passes mypy --strict, drives a journey
over HTTP, downloads an attachment as bytes, and sends DPoP proofs with the guide's auth."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from dev import dpop_proof
from tests.api.support import ADMIN, CLINICIAN, PNG, SERVICE, Api, today, unique

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "docs" / "openapi-python-client.yaml"
GUIDE = REPO / "docs" / "guide-portal.md"
BIN = Path(sys.executable).parent
PACKAGE = "econsult_client"


@dataclass(frozen=True)
class Generated:
    project: Path
    output: str


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The generator's post hooks (ruff) come from this virtualenv, as on a team's machine.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
async def generated(api: Api, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    workdir = tmp_path_factory.mktemp("client")
    document = workdir / "openapi.json"
    document.write_text(json.dumps((await api.http.get("/openapi.json")).json()))
    result = await asyncio.to_thread(
        _run,
        BIN / "openapi-python-client",
        "generate",
        "--path",
        document,
        "--config",
        CONFIG,
        cwd=workdir,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Generated(workdir / "econsult-client", result.stdout + result.stderr)


@pytest.fixture(scope="module")
def client_package(generated: Generated) -> Iterator[None]:
    sys.path.insert(0, str(generated.project))
    try:
        yield
    finally:
        sys.path.remove(str(generated.project))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


async def test_the_client_builds_without_warnings_and_passes_mypy(generated: Generated) -> None:
    assert "warning" not in generated.output.lower(), generated.output
    assert "error" not in generated.output.lower(), generated.output
    # Every operation became a function named after its operationId, errors typed as Problem.
    create = (generated.project / PACKAGE / "api" / "portal" / "create_consultation.py").read_text()
    assert "Response[ConsultationOut | Problem]" in create
    checked = await asyncio.to_thread(
        _run,
        BIN / "mypy",
        "--strict",
        "--cache-dir",
        generated.project / ".mypy_cache",
        PACKAGE,
        cwd=generated.project,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_a_journey_through_the_generated_client(api: Api, client_package: None) -> None:
    models = _module("models")
    clinician, patient = unique("hpr"), unique("patient")

    def as_(scope: str, **claims: Any) -> Any:
        token = api.tokens.mint(scope, sub=unique("caller"), **claims)
        return _module("client").AuthenticatedClient(base_url=str(api.http.base_url), token=token)

    admin, portal = as_(ADMIN), as_(SERVICE)
    doctor = as_(CLINICIAN, hpr=clinician)

    entry = await _module("api.admin.put_clinician").asyncio_detailed(
        clinician,
        client=admin,
        body=models.ClinicianIn(
            name="Dr. Generert",
            practice_id=unique("practice"),
            accepts_econsultations=True,
            reply_within_working_days=5,
            substitute=None,
        ),
    )
    assert entry.status_code == 201, entry.content
    relation = await _module("api.admin.put_relation").asyncio_detailed(
        patient,
        clinician,
        client=admin,
        body=models.RelationIn(
            kind=models.RelationKind.REGULAR_GP, valid_from=today() - timedelta(days=30)
        ),
    )
    assert relation.status_code == 201, relation.content

    recipients = await _module("api.portal.list_recipients").asyncio(patient, client=portal)
    assert isinstance(recipients, models.RecipientsOut)
    assert [r.clinician_id for r in recipients.items] == [clinician]

    created = await _module("api.portal.create_consultation").asyncio(
        client=portal,
        idempotency_key=unique("key"),
        body=models.CreateConsultation(
            patient=models.PatientIn(id=patient, birth_date=today() - timedelta(days=40 * 365)),
            clinician_id=clinician,
            copayment_accepted=True,
            message=models.MessageIn(body="Utslett på armen i en uke."),
        ),
    )
    assert isinstance(created, models.ConsultationOut), created
    assert created.status == models.Status.AWAITING_CLINICIAN

    replied = await _module("api.clinician.reply_to_consultation").asyncio(
        created.id,
        client=doctor,
        body=models.ClinicianReply(body="Smør med krem to ganger daglig."),
    )
    assert isinstance(replied, models.ConsultationOut), replied

    read = await _module("api.portal.get_consultation").asyncio(created.id, client=portal)
    assert isinstance(read, models.ConsultationOut)
    assert [m.author_role for m in read.messages] == ["patient", "clinician"]

    # A refusal arrives as the shared Problem model, not as an untyped body.
    refused = await _module("api.portal.get_consultation").asyncio(unique("missing"), client=portal)
    assert isinstance(refused, models.Problem) and refused.status == 404


async def _uploaded(api: Api, portal: Any) -> str:
    """A PNG uploaded through the generated client by `portal`; its id."""
    models, types = _module("models"), _module("types")
    uploaded = await _module("api.portal.upload_attachment").asyncio(
        client=portal,
        body=models.UploadAttachmentAttachmentUpload(
            file=types.File(payload=BytesIO(PNG), file_name="utslett.png", mime_type="image/png")
        ),
    )
    assert isinstance(uploaded, models.AttachmentMeta), uploaded
    return str(uploaded.id)


async def test_an_attachment_downloads_as_its_bytes(api: Api, client_package: None) -> None:
    token = api.tokens.mint(SERVICE, sub=unique("portal"))
    portal = _module("client").AuthenticatedClient(base_url=str(api.http.base_url), token=token)
    attachment = await _uploaded(api, portal)

    download = _module("api.portal.download_attachment")
    answer = await download.asyncio_detailed(attachment, client=portal)
    assert answer.status_code == 200
    assert isinstance(answer.parsed, _module("types").File)
    assert answer.parsed.payload.read() == PNG
    assert answer.headers["content-type"] == "image/png"
    file = await download.asyncio(attachment, client=portal)
    assert file is not None and file.payload.read() == PNG


def guide_dpop_auth() -> str:
    """The portal guide's `DPoPAuth` block, as a team would copy it."""
    section = GUIDE.read_text().split("\n### DPoP with the generated client\n")[1]
    (block,) = re.findall(r"```python\n(.*?)```", re.split(r"\n##+ ", section)[0], re.DOTALL)
    return str(block)


async def test_the_guides_dpop_auth_sends_a_proof_with_every_request(
    api: Api, client_package: None, tmp_path: Path
) -> None:
    portal_id = unique("portal")
    bearer_token = api.tokens.mint(SERVICE, sub=portal_id)
    uploader = _module("client").AuthenticatedClient(
        base_url=str(api.http.base_url), token=bearer_token
    )
    attachment = await _uploaded(api, uploader)

    key, _ = dpop_proof.private_jwk(tmp_path / "dpop-key.json")
    bound = api.tokens.mint(SERVICE, sub=portal_id, cnf={"jkt": dpop_proof.key_thumbprint(key)})
    example: dict[str, Any] = {
        "API": str(api.http.base_url),
        "ACCESS_TOKEN": bound,
        "make_proof": lambda method, url, token: dpop_proof.proof(key, method, url, token),
    }
    exec(guide_dpop_auth(), example)  # noqa: S102 - the guide's own code, run as a reader would
    download = _module("api.portal.download_attachment")
    # Twice: each request has its own proof (a replayed one is refused).
    for _ in range(2):
        answer = await download.asyncio_detailed(attachment, client=example["portal"])
        assert answer.status_code == 200, answer.content
        assert answer.parsed is not None and answer.parsed.payload.read() == PNG
    # The same token as Bearer, without a proof, is refused: the proofs were what let it in.
    plain = _module("client").AuthenticatedClient(base_url=str(api.http.base_url), token=bound)
    refused = await download.asyncio_detailed(attachment, client=plain)
    assert refused.status_code == 401
