"""`make sandbox`: the whole service on Temporal's time-skipping test server, with demo data.

As `make run`, but Temporal is the test server (time skipping locked: its clock runs like a
wall clock until `POST /v1/sandbox/clock` moves it), ECONSULT_SANDBOX is on, and a webhook
receiver (dev/sandbox_receiver.py) takes the portal's and the practice's events. Once the
API answers, the demo practice, its clinicians and the patient's relation are put through the
API, and `<data>/sandbox/env.sh` is written: the URLs, ids and tokens the guides'
walk-throughs use (`. .data/sandbox/env.sh`). Everything starts afresh each time: the test
server keeps its state in memory, so the sandbox's case store is new too.

It takes `make run`'s ports (TEMPORAL_ADDRESS, API_PORT, WORKER_METRICS_ADDRESS), so one runs
at a time unless those are set; the receiver listens on SANDBOX_RECEIVER_PORT, else a free
port. The test server listens on every interface of this machine (it takes no address).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import shutil
import subprocess
import sys
from datetime import date, timedelta

import httpx
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client

from api.auth import Scope
from dev import run
from dev.demo_directory import DEMO_CLINICIAN, DEMO_SUBSTITUTE
from dev.harness import tokens
from dev.harness.ports import free_port, ready_for_commands, wait_for_port
from dev.harness.processes import BIN, ROOT, Processes, stopped_by_ctrl_c
from infra.settings import get_settings
from workflows import search_attributes

SANDBOX = run.DATA / "sandbox"
ENV_FILE = SANDBOX / "env.sh"
DEMO_PRACTICE = "demo-practice"
# A made-up national identity number (the sandbox's patient is nobody).
DEMO_PATIENT = "01017012345"
READY_WITHIN_SECONDS = 90.0


def temporal_test_server(address: str) -> list[str]:
    """The time-skipping test server (the SDK's binary). Without `--enable-time-skipping` it
    starts with time skipping locked: time passes as on a wall clock until unlocked."""
    return [str(BIN / "temporal-test-server"), address.rsplit(":", 1)[1]]


async def register_search_attributes(address: str) -> None:
    """The test server takes no flags for them (the dev server does: dev_server_flags)."""
    client = await Client.connect(address)
    kinds = {
        "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "DATETIME": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
        "BOOL": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    }
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: kinds[key.indexed_value_type.name] for key in search_attributes.ALL
            },
        )
    )


def sandbox_environment(receiver: str) -> dict[str, str]:
    """The processes' settings: the caller's, else the sandbox's own (its receivers, with fresh
    webhook keys and record-system secret)."""
    env = dict(os.environ)
    env.setdefault("ECONSULT_ENCRYPTION_KEYS", run.development_key())
    env.setdefault("AUTH_HS256_SECRET", run.development_auth_secret())
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{SANDBOX / 'econsult.db'}")
    env.setdefault("WEBHOOK_PORTAL_URL", f"{receiver}/portal")
    env.setdefault("WEBHOOK_PORTAL_SECRETS", new_webhook_secret())
    env.setdefault("WEBHOOK_PRACTICE_URL", f"{receiver}/practice")
    env.setdefault("WEBHOOK_PRACTICE_SECRETS", new_webhook_secret())
    env.setdefault("FHIR_BASE_URL", f"{receiver}/fhir")
    env.setdefault("FHIR_TOKEN_URL", f"{receiver}/token")
    env.setdefault("FHIR_CLIENT_ID", "econsult-sandbox")
    env.setdefault("FHIR_CLIENT_SECRET", secrets.token_urlsafe(24))
    env["ECONSULT_SANDBOX"] = "true"
    return env


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


def wait_until_ready(api: str, processes: Processes) -> None:
    if processes.wait_for(lambda: ready_for_commands(api), READY_WITHIN_SECONDS):
        return
    if processes.exited():
        raise SystemExit(f"{', '.join(processes.exited())} exited before the API was ready")
    raise SystemExit(f"the API at {api} was not ready within {READY_WITHIN_SECONDS:.0f} s")


def seed(api: str, admin: str) -> None:
    """The demo practice, its clinician and substitute, and the patient's regular GP."""
    headers = {"authorization": f"Bearer {admin}"}
    today = date.today()
    calls = [
        (f"/v1/practices/{DEMO_PRACTICE}", {"name": "Demo legekontor"}),
        (
            f"/v1/clinicians/{DEMO_SUBSTITUTE}",
            {
                "name": "Dr. Demo Vikar",
                "practice_id": DEMO_PRACTICE,
                "accepts_econsultations": True,
                "reply_within_working_days": 5,
                "substitute": None,
            },
        ),
        (
            f"/v1/clinicians/{DEMO_CLINICIAN}",
            {
                "name": "Dr. Demo Fastlege",
                "practice_id": DEMO_PRACTICE,
                "accepts_econsultations": True,
                "reply_within_working_days": 5,
                "substitute": None,
            },
        ),
        (
            f"/v1/patients/{DEMO_PATIENT}/relations/{DEMO_CLINICIAN}",
            {"kind": "regular_gp", "valid_from": (today - timedelta(days=365)).isoformat()},
        ),
    ]
    for path, body in calls:
        answer = httpx.put(f"{api}{path}", json=body, headers=headers, timeout=30)
        if answer.status_code not in (200, 201):
            raise SystemExit(f"seeding PUT {path} answered {answer.status_code}: {answer.text}")


def walkthrough_variables(api: str, receiver: str, env: dict[str, str]) -> dict[str, str]:
    """What the guides' walk-throughs read: URLs, ids and a token per role."""
    settings = get_settings()
    secret = env["AUTH_HS256_SECRET"]

    def token(scope: Scope, subject: str, **claims: str) -> str:
        lifetime = settings.auth_max_token_lifetime
        audience = settings.auth_audience
        return tokens.mint(secret, scope, subject, audience=audience, expires_in=lifetime, **claims)

    return {
        "API": api,
        "RECEIVER": receiver,
        "PRACTICE_ID": DEMO_PRACTICE,
        "CLINICIAN_ID": DEMO_CLINICIAN,
        "PATIENT_ID": DEMO_PATIENT,
        "ADMIN": token(Scope.ADMIN, "sandbox-operator"),
        "PORTAL": token(Scope.SERVICE, "sandbox-portal"),
        "CLINICIAN": token(Scope.CLINICIAN, DEMO_CLINICIAN, hpr=DEMO_CLINICIAN),
        "RECORD_SYSTEM": token(Scope.RECORD_SYSTEM, "sandbox-epj", practice=DEMO_PRACTICE),
    }


def write_env_file(variables: dict[str, str]) -> None:
    lines = [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    # Owner-only: it holds tokens.
    with os.fdopen(os.open(ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write("\n".join(lines) + "\n")


def main() -> None:
    settings = get_settings()
    run.DATA.mkdir(exist_ok=True)
    shutil.rmtree(SANDBOX, ignore_errors=True)
    SANDBOX.mkdir()
    receiver = f"http://127.0.0.1:{int(os.environ.get('SANDBOX_RECEIVER_PORT') or free_port())}"
    env = sandbox_environment(receiver)
    api = f"http://{settings.api_host}:{settings.api_port}"
    with Processes(SANDBOX, stop_within=40) as processes, stopped_by_ctrl_c():

        def start(name: str, command: list[str]) -> None:
            print("starting:", name, flush=True)
            processes.start(name, command, env, logged=False)

        start("temporal-test-server", temporal_test_server(settings.temporal_address))
        wait_for_port(settings.temporal_address, timeout=60)
        asyncio.run(register_search_attributes(settings.temporal_address))
        subprocess.run([str(BIN / "alembic"), "upgrade", "head"], cwd=ROOT, env=env, check=True)
        port = receiver.rsplit(":", 1)[1]
        start("receiver", [sys.executable, "-m", "dev.sandbox_receiver", port])
        start("worker", [sys.executable, "worker.py"])
        start("api", [sys.executable, "-m", "api"])
        wait_until_ready(api, processes)
        variables = walkthrough_variables(api, receiver, env)
        seed(api, variables["ADMIN"])
        write_env_file(variables)
        print(ENV_FILE.read_text(), end="")
        print(
            f"sandbox ready: API {api}, webhook receiver {receiver}/events\n"
            f"the variables above, for the guides' walk-throughs: . {ENV_FILE}\n"
            "(Ctrl-C stops everything)",
            flush=True,
        )
        processes.serve_until_one_exits()


if __name__ == "__main__":
    main()
