"""Ops find cases in the Temporal UI: search attributes upserted on every status change."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from domain.models import ReplyCommand, Role
from tests.support import (
    CLINICIAN,
    content,
    new_start,
    start,
    time_skipping_environment,
)
from tests.workflows.support import seeded_worker
from workflows import search_attributes as sa
from workflows.econsultation import EConsultation


async def attributes(client: Client, workflow_id: str) -> TypedSearchAttributes:
    return (await client.get_workflow_handle(workflow_id).describe()).typed_search_attributes


async def test_a_case_past_its_deadline_is_marked_overdue_for_ops(
    sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with (
        time_skipping_environment() as env,
        seeded_worker(env, sqlite_url, sessions) as task_queue,
    ):
        handle = await start(env.client, task_queue, new_start())
        await env.sleep(timedelta(seconds=5))
        waiting = await attributes(env.client, handle.id)
        await env.sleep(timedelta(days=15))
        late = await attributes(env.client, handle.id)

    assert waiting[sa.ECONSULT_STATUS] == "awaiting_clinician"
    assert waiting[sa.CLINICIAN_ID] == CLINICIAN
    assert waiting[sa.OVERDUE] is False
    assert waiting.get(sa.REPLY_DUE_AT) is not None
    assert late[sa.OVERDUE] is True
    assert late[sa.REPLY_DUE_AT] == waiting[sa.REPLY_DUE_AT]


async def list_ids(client: Client, query: str) -> set[str]:
    return {execution.id async for execution in client.list_workflows(query)}


async def eventually_listed(client: Client, query: str, expected: set[str]) -> set[str]:
    """Visibility is eventually consistent: poll briefly until the expected set shows."""
    found: set[str] = set()
    for _ in range(100):
        found = await list_ids(client, query)
        if found == expected:
            break
        await asyncio.sleep(0.1)
    return found


async def test_ops_list_a_clinicians_open_cases_and_every_overdue_case(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with seeded_worker(dev_env, sqlite_url, sessions) as task_queue:
        waiting = await start(dev_env.client, task_queue, new_start())
        answered = await start(dev_env.client, task_queue, new_start())
        await answered.execute_update(
            EConsultation.reply,
            ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
        )
        await waiting.execute_update(EConsultation.opened)
        # The dev server cannot skip to a deadline: an overdue case is seeded with the same
        # attributes the workflow upserts (the time-skipping test above proves the upsert).
        overdue = await dev_env.client.start_workflow(
            "NotAConsultation",
            id=f"overdue-probe-{waiting.id}",
            task_queue=f"{task_queue}-idle",
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.OVERDUE, True),
                    SearchAttributePair(sa.CLINICIAN_ID, "other-clinician"),
                    SearchAttributePair(sa.ECONSULT_STATUS, "awaiting_clinician"),
                ]
            ),
        )
        scope = f'WorkflowId IN ("{waiting.id}", "{answered.id}", "{overdue.id}")'

        open_for_clinician = await eventually_listed(
            dev_env.client,
            f'{scope} AND ClinicianId = "{CLINICIAN}" AND ExecutionStatus = "Running"',
            {waiting.id, answered.id},
        )
        overdue_cases = await eventually_listed(
            dev_env.client, f"{scope} AND Overdue = true", {overdue.id}
        )
        awaiting_clinician = await eventually_listed(
            dev_env.client,
            f'{scope} AND EConsultStatus = "awaiting_clinician" AND ClinicianId = "{CLINICIAN}"',
            {waiting.id},
        )
        await overdue.terminate("probe done")

    assert open_for_clinician == {waiting.id, answered.id}
    assert overdue_cases == {overdue.id}
    assert awaiting_clinician == {waiting.id}
