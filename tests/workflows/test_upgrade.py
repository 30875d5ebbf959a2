"""Consultations started on the 1.0 code finish on the current code.

The 1.0 code is the commit this release starts from, taken out by its hash into a folder of
its own; its `worker.py` runs as a process from there, starts consultations and takes them part
way (a case awaiting its answer, an answer billed and settled, a draft, a clarifying question).
Then it stops, as a rollout stops it, and the current worker takes them over: it replays their
histories on the 1.0 flow (no `decide-then-commit` marker in them) and finishes each with the
effects 1.0 promised, exactly once (docs/guide-developer.md, "Changing the workflow").
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import tarfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from dev.harness.processes import ROOT, Processes
from domain.models import (
    CloseCommand,
    ConsultationStart,
    ConsultationView,
    CopaymentStatus,
    Role,
    Status,
    SubmitCommand,
    WithdrawCommand,
)
from tests.support import (
    CLINICIAN,
    WorkerProcess,
    content,
    effects,
    new_start,
    reply,
    running_worker,
    seed_directory,
    start,
    temporal_address,
    worker_env,
)
from workflows.econsultation import DECIDE_THEN_COMMIT, EConsultation

# The 1.0 release: the commit the decide-then-commit flow starts from.
RELEASE_1_0 = "fb480f281f6399978cadd782368bc1d0cf1bb6d5"
FINISHES_WITHIN = 120.0

Handle = WorkflowHandle[EConsultation, ConsultationView]


@pytest.fixture(scope="module")
def code_1_0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 1.0 tree, as `git archive` gives it for the release's hash."""
    folder = tmp_path_factory.mktemp("code-1.0")
    tree = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", RELEASE_1_0],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tree)) as archive:
        archive.extractall(folder, filter="data")
    return folder


async def settled(handle: Handle) -> ConsultationView:
    for _ in range(200):
        view = await handle.query(EConsultation.view)
        if view.copayment.status != CopaymentStatus.PENDING:
            return view
        await asyncio.sleep(0.1)
    raise AssertionError("the co-payment never settled")


def patch_markers(events: list[Any]) -> list[str]:
    return [
        e.marker_recorded_event_attributes.details["patch_data"].data.decode()
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]


async def test_consultations_started_on_1_0_finish_on_the_current_code(
    dev_env: WorkflowEnvironment,
    sqlite_url: str,
    sessions: async_sessionmaker[AsyncSession],
    code_1_0: Path,
    tmp_path: Path,
) -> None:
    await seed_directory(sessions)
    client = dev_env.client
    task_queue = f"econsultation-upgrade-{uuid.uuid4().hex[:8]}"
    env = worker_env(temporal_address(dev_env), sqlite_url, task_queue)
    awaiting, answered, draft, asked = (
        new_start(),
        new_start(),
        new_start(message=None),
        new_start(),
    )
    cases = (awaiting, answered, draft, asked)

    with Processes(tmp_path) as processes:
        old = WorkerProcess(processes, env, "worker-1.0", str(code_1_0 / "worker.py"))
        old.start()
        await old.ready()
        handles = {case.consultation_id: await start(client, task_queue, case) for case in cases}
        for handle in handles.values():
            await handle.execute_update(EConsultation.opened)
        on = handles.__getitem__
        await on(answered.consultation_id).execute_update(
            EConsultation.reply, reply(Role.CLINICIAN, CLINICIAN, "Use the cream.")
        )
        assert (await settled(on(answered.consultation_id))).copayment.status == "charged"
        await on(asked.consultation_id).execute_update(
            EConsultation.reply, reply(Role.CLINICIAN, CLINICIAN, "Since when?", billable=False)
        )
        assert await old.terminate() == 0

    finish: dict[str, Callable[[Handle], Awaitable[None]]] = {
        awaiting.consultation_id: lambda h: _answer_and_close(h),
        answered.consultation_id: lambda h: _follow_up_and_close(h, answered),
        draft.consultation_id: lambda h: _submit_and_withdraw(h, draft),
        asked.consultation_id: lambda h: _close(h),
    }
    async with running_worker(client, sqlite_url, task_queue), asyncio.timeout(FINISHES_WITHIN):
        for consultation_id, handle in handles.items():
            await finish[consultation_id](handle)
        results = {cid: await handle.result() for cid, handle in handles.items()}
        histories = {cid: await handle.fetch_history() for cid, handle in handles.items()}

    expected = {
        awaiting.consultation_id: (Status.CLOSED, CopaymentStatus.CHARGED, 2, 3, 3, 1),
        answered.consultation_id: (Status.CLOSED, CopaymentStatus.CHARGED, 4, 5, 4, 1),
        draft.consultation_id: (Status.WITHDRAWN, CopaymentStatus.NOT_APPLICABLE, 1, 2, 2, 0),
        asked.consultation_id: (Status.CLOSED, CopaymentStatus.NO_CHARGE, 2, 3, 3, 0),
    }
    for consultation_id, result in results.items():
        found = await effects(sessions, consultation_id)
        assert (
            result.status,
            result.copayment.status,
            found["messages"],
            found["journal"],
            found["notifications"],
            found["charges"],
        ) == expected[consultation_id], consultation_id
        # Run to the end on the 1.0 flow: the new flow's patch never entered the history.
        assert DECIDE_THEN_COMMIT not in patch_markers(list(histories[consultation_id].events))


async def _answer_and_close(handle: Handle) -> None:
    await handle.execute_update(EConsultation.reply, reply(Role.CLINICIAN, CLINICIAN, "Rest."))
    await settled(handle)
    await handle.execute_update(EConsultation.close, CloseCommand(clinician_id=CLINICIAN))


async def _follow_up_and_close(handle: Handle, case: ConsultationStart) -> None:
    await handle.execute_update(EConsultation.reply, reply(Role.PATIENT, case.patient.id, "Ok"))
    await handle.execute_update(
        EConsultation.reply, reply(Role.CLINICIAN, CLINICIAN, "Good.", close=True)
    )


async def _submit_and_withdraw(handle: Handle, case: ConsultationStart) -> None:
    await handle.execute_update(EConsultation.submit, SubmitCommand(message=content("A rash.")))
    await handle.execute_update(EConsultation.withdraw, WithdrawCommand(patient_id=case.patient.id))


async def _close(handle: Handle) -> None:
    await handle.execute_update(EConsultation.close, CloseCommand(clinician_id=CLINICIAN))
