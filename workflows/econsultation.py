"""EConsultation: one durable workflow per consultation, read as the table of docs/lifecycle.md.

The workflow type is a shell: its handlers hand each command to the flow the run was started
on. A run started on 1.0 keeps the 1.0 flow (`workflows/v1/`) to its end.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.models import (
        CloseCommand,
        ConsultationStart,
        ConsultationView,
        ReassignCommand,
        ReplyCommand,
        SubmitCommand,
        WithdrawCommand,
    )

# Imported in the sandbox, as the workflow module itself would be.
from workflows.v1.consultation import ConsultationV1


@workflow.defn(name="EConsultation")
class EConsultation:
    # Updates are named after their methods: with `name=` the SDK types their answer as a
    # coroutine, and callers could not call them by method reference.

    @workflow.init
    def __init__(self, start: ConsultationStart) -> None:
        self._flow = ConsultationV1(start)

    @workflow.run
    async def run(self, start: ConsultationStart) -> ConsultationView:
        return await self._flow.run(start)

    @workflow.signal(name="submit")
    async def submit_signal(self, command: SubmitCommand) -> None:
        await self._flow.submit_signal(command)

    @workflow.update
    async def submit(self, command: SubmitCommand) -> ConsultationView:
        return await self._flow.submit(command)

    @submit.validator
    def _check_submit(self, command: SubmitCommand) -> None:
        self._flow.check_submit(command)

    @workflow.signal(name="reply")
    async def reply_signal(self, command: ReplyCommand) -> None:
        await self._flow.reply_signal(command)

    @workflow.update
    async def reply(self, command: ReplyCommand) -> ConsultationView:
        return await self._flow.reply(command)

    @reply.validator
    def _check_reply(self, command: ReplyCommand) -> None:
        self._flow.check_reply(command)

    @workflow.signal(name="close")
    async def close_signal(self, command: CloseCommand) -> None:
        await self._flow.close_signal(command)

    @workflow.update
    async def close(self, command: CloseCommand) -> ConsultationView:
        return await self._flow.close(command)

    @close.validator
    def _check_close(self, command: CloseCommand) -> None:
        self._flow.check_close(command)

    @workflow.signal(name="withdraw")
    async def withdraw_signal(self, command: WithdrawCommand) -> None:
        await self._flow.withdraw_signal(command)

    @workflow.update
    async def withdraw(self, command: WithdrawCommand) -> ConsultationView:
        return await self._flow.withdraw(command)

    @withdraw.validator
    def _check_withdraw(self, command: WithdrawCommand) -> None:
        self._flow.check_withdraw(command)

    @workflow.signal(name="reassign")
    async def reassign_signal(self, command: ReassignCommand) -> None:
        await self._flow.reassign_signal(command)

    @workflow.update
    async def reassign(self, command: ReassignCommand) -> ConsultationView:
        return await self._flow.reassign(command)

    @reassign.validator
    def _check_reassign(self, command: ReassignCommand) -> None:
        self._flow.check_reassign(command)

    @workflow.update
    async def opened(self) -> ConsultationView:
        """Answers once the start checks passed and the case (and any first message) is stored.

        Used with update-with-start, so a caller reads its own write right after creating.
        """
        return await self._flow.opened()

    @workflow.query(name="state")
    def view(self) -> ConsultationView:
        return self._flow.view()
