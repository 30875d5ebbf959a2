"""A retired `guardian` cannot come back through a signal (docs/parties.md): a signal has no
validator, so the workflow refuses it itself, behind the patch `guardian-signals-refused`."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.models import ReplyCommand, Role, Status
from domain.parties import Representative, RepresentativeRelation
from tests.support import CLINICIAN, content, effects_when_quiet, new_start, start
from tests.workflows.support import seeded_worker
from workflows.econsultation import GUARDIAN_SIGNALS_REFUSED, EConsultation


def follow_up(patient_id: str, relation: RepresentativeRelation) -> ReplyCommand:
    holder = Representative(id="holder-1", relation=relation, birth_date=date(1950, 1, 1))
    return ReplyCommand(
        author_role=Role.PATIENT,
        author_id=patient_id,
        message=content("It has spread to the arms."),
        representative=holder,
    )


async def test_a_guardians_follow_up_sent_as_a_signal_is_refused_and_a_next_of_kins_is_taken(
    dev_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    case = new_start()
    async with seeded_worker(dev_env, sqlite_url, sessions) as task_queue:
        handle = await start(dev_env.client, task_queue, case)
        await handle.execute_update(
            EConsultation.reply,
            ReplyCommand(author_role=Role.CLINICIAN, author_id=CLINICIAN, message=content()),
        )
        before = await effects_when_quiet(sessions, case.consultation_id)

        guardian = follow_up(case.patient.id, RepresentativeRelation.GUARDIAN)
        await handle.signal(EConsultation.reply_signal, guardian)
        after_guardian = await effects_when_quiet(sessions, case.consultation_id)
        status = (await handle.query(EConsultation.view)).status

        kin = follow_up(case.patient.id, RepresentativeRelation.NEXT_OF_KIN)
        await handle.signal(EConsultation.reply_signal, kin)
        after_kin = await effects_when_quiet(sessions, case.consultation_id)
        taken = await handle.query(EConsultation.view)
        described = (await handle.describe()).raw_description.workflow_execution_info
        versions = described.search_attributes.indexed_fields["TemporalChangeVersion"].data

    assert after_guardian == before
    assert status == Status.AWAITING_PATIENT
    # The same signal from a next of kin is taken: the refusal is the guardian's, not the path's.
    assert taken.status == Status.AWAITING_CLINICIAN
    assert after_kin != before
    # The refusal is the patch's: the run carries its marker (search attribute upserted with it).
    assert GUARDIAN_SIGNALS_REFUSED.encode() in versions
