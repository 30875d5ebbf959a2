"""The life every consultation flow lives (opened; the next timer or a change, until final;
continue-as-new when the run grows long), how its handlers take turns, and how its background
work is drained.

The pattern of Temporal's safe message handlers: one lock around every handler that awaits,
handlers wait until the start checks passed, and the workflow completes or continues as new
only when no handler runs and no background task (a delivery, a settlement) is in flight.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.entries import next_run
    from domain.models import ConsultationStart, ConsultationState, ConsultationView, Status

Command = TypeVar("Command")
# When a timer fires, and what it does then.
Timer = tuple[datetime, Callable[[], Awaitable[None]]]


class TurnTaking:
    """The consultation's life as every flow lives it: opened, then waiting for the next timer
    or change until final, continuing as new when the run has grown long."""

    state: ConsultationState

    def __init__(self, start: ConsultationStart) -> None:
        self._lock = asyncio.Lock()
        # Until the start checks passed, handlers wait and validators judge by the opening status.
        self._opened = start.carried_state is not None
        self._opening_status = Status.AWAITING_CLINICIAN if start.message else Status.DRAFT
        self._start_refusal: ApplicationError | None = None
        self._messages_this_run = 0
        self._messages_per_run = start.messages_per_run
        # Notifications, journal forwards and settlement in flight, awaited before completing.
        self._background: list[asyncio.Task[None]] = []

    async def _open(self, start: ConsultationStart) -> None:
        raise NotImplementedError

    def _next_timer(self) -> Timer | None:
        raise NotImplementedError

    async def run(self, start: ConsultationStart) -> ConsultationView:
        if not self._opened:
            try:
                await self._open(start)
            except ApplicationError as refusal:
                # Let a waiting `opened` update answer with the refusal itself, then fail.
                self._start_refusal = refusal
                await workflow.wait_condition(workflow.all_handlers_finished)
                raise
        while not self.state.status.is_final:
            if self._should_continue_as_new():
                await self._settle_in_flight_work()
                workflow.continue_as_new(next_run(start, self.state))
            await self._wait_for_timer(
                self._next_timer,
                finished=lambda: self.state.status.is_final,
                restart=self._should_continue_as_new,
            )
        await self._settle_in_flight_work()
        return self.view()

    async def opened(self) -> ConsultationView:
        await workflow.wait_condition(lambda: self._opened or self._start_refusal is not None)
        if self._start_refusal is not None:
            raise self._start_refusal
        async with self._lock:
            return self.view()

    def view(self) -> ConsultationView:
        return self.state.view()

    @property
    def _judged(self) -> ConsultationState:
        """The state validators judge by: before the start is committed, in its opening status."""
        if self._opened:
            return self.state
        return self.state.model_copy(update={"status": self._opening_status})

    def _should_continue_as_new(self) -> bool:
        return (
            self._messages_this_run >= self._messages_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    @asynccontextmanager
    async def _turn(
        self, check: Callable[[Command], None], command: Command
    ) -> AsyncIterator[None]:
        """Wait for the start checks to pass, take the lock, and check the command again:
        another handler may have moved the case on since the validator said yes."""
        await workflow.wait_condition(lambda: self._opened)
        async with self._lock:
            check(command)
            yield

    @staticmethod
    async def _as_signal(handled: object) -> None:
        """A command sent as a signal runs its update's body (`handled`: the update method
        called, typed by the SDK as a value or an awaitable; ours are async).

        A refused signal changes nothing; failing the workflow over it would lose the case.
        """
        try:
            if inspect.isawaitable(handled):
                await handled
        except ApplicationError as refusal:
            workflow.logger.warning(
                "signal refused",
                extra={"reason": refusal.type, "workflow_id": workflow.info().workflow_id},
            )

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        self._background = [task for task in self._background if not task.done()]
        self._background.append(asyncio.create_task(work))

    async def _settle_in_flight_work(self) -> None:
        """Before completing or continuing as new: no handler running, no delivery in flight.

        A handler may start a notification while others drain, so look again until both are
        quiet at once; the caller then completes without another await.
        """
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
            pending = [task for task in self._background if not task.done()]
            if not pending:
                return
            await asyncio.gather(*pending)

    async def _wait_for_timer(
        self,
        next_timer: Callable[[], Timer | None],
        *,
        finished: Callable[[], bool],
        restart: Callable[[], bool],
    ) -> None:
        """Wait until the next timer fires, the case finishes, or it should `restart` (continue
        as new), whichever comes first; fire a due timer under the lock.

        Wakes for a new deadline, not for every change: a change that leaves the deadline as
        it was (a settled co-payment, a reassignment) keeps the running timer.
        """

        def due() -> tuple[datetime, str] | None:
            timer = next_timer()
            return None if timer is None else (timer[0], timer[1].__name__)

        waiting_for, timer = due(), next_timer()

        def still_due() -> bool:
            return not finished() and due() == waiting_for

        def changed() -> bool:
            return not still_due() or restart()

        if timer is None:
            await workflow.wait_condition(changed)
            return
        due_at, fire = timer
        delay = due_at - workflow.now()
        if delay > timedelta(0):
            try:
                await workflow.wait_condition(
                    changed, timeout=delay, timeout_summary=fire.__name__.strip("_")
                )
                return
            except TimeoutError:
                pass
        async with self._lock:
            # A handler may have moved the case on while the timer fired.
            if still_due():
                await fire()
