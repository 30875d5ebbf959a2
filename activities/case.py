"""Case-store activities: the directory's answers a decision needs, and the commit of an event."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.adapters import FrikortRegister
from activities.notifications import FIRST_ATTEMPT_SECONDS, NotificationDelivery
from domain.copayment import DEFAULT_TABLE, CopaymentTable, decide_copayment
from domain.effects import DirectoryAnswer, DirectoryCheck, FrikortQuestion, ReassignmentCheck
from domain.entries import settled_as
from domain.events import Committed, Event
from domain.models import Refusal
from domain.practices import PracticeCalendar, PracticeQuestion
from store.case_writes import Consultations, UnknownAttachmentError
from store.directory import Directory, DirectoryEntry, RecipientRefusedError

log = logging.getLogger("econsult.billing")

# All of a commit's first attempts (its notifications, the frikort register) end within this,
# well inside the commit's own timeout (10 s, workflows/calls.py STORE_TIMEOUT): a commit
# retried after a timeout would only wait again. What did not answer goes on as activities.
FIRST_ATTEMPTS_SECONDS = 4.0


class Forwarding(Protocol):
    """Whether a practice's journal entries go on to an external record system (FHIR)."""

    async def forwards(self, practice_id: str | None) -> bool: ...


class CaseActivities:
    def __init__(
        self,
        directory: Directory,
        consultations: Consultations,
        *,
        forwarding: Forwarding | None = None,
        table: CopaymentTable = DEFAULT_TABLE,
        delivery: NotificationDelivery | None = None,
        frikort_register: FrikortRegister | None = None,
    ) -> None:
        self._directory = directory
        self._consultations = consultations
        # The workflow forwards an event's entries only when the commit answers `forward`, so
        # what it answered replays as recorded. A practice's endpoints are kept for at most
        # ENDPOINTS_FRESH_FOR (activities/endpoints.py); nothing else a commit reads is kept.
        self._forwards = forwarding.forwards if forwarding else None
        self._table = table
        # The first attempts a commit makes when its event asks (`Event.first_attempt`); without
        # them every delivery goes on in the background.
        self._delivery = delivery
        self._frikort_register = frikort_register

    @activity.defn
    async def check_directory(self, check: DirectoryCheck) -> DirectoryAnswer:
        """Refuse a clinician who takes no e-consultations, or a recipient who may not answer."""
        try:
            recipient = await self._directory.admit_recipient(
                check.patient_id, check.clinician_id, check.recipient_id, check.on_day
            )
        except RecipientRefusedError as error:
            raise ApplicationError(str(error), type=error.refusal, non_retryable=True) from error
        return await self._answer(recipient)

    @activity.defn
    async def check_reassignment(self, check: ReassignmentCheck) -> DirectoryAnswer:
        """Refuse a new recipient outside the practice, or one who takes no e-consultations."""
        try:
            recipient = await self._directory.admit_reassignment(
                check.recipient_id, check.practice_id, check.on_day
            )
        except RecipientRefusedError as error:
            raise ApplicationError(str(error), type=error.refusal, non_retryable=True) from error
        return await self._answer(recipient)

    @activity.defn
    async def practice_calendar(self, question: PracticeQuestion) -> PracticeCalendar:
        """The practice's closed days, read afresh for each deadline (never kept)."""
        return PracticeCalendar(closed_days=await self._directory.closed_days(question.practice_id))

    async def _answer(self, recipient: DirectoryEntry) -> DirectoryAnswer:
        return DirectoryAnswer(
            recipient_id=recipient.id,
            practice_id=recipient.practice_id,
            reply_within_working_days=recipient.reply_within_working_days,
            closed_days=await self._directory.closed_days(recipient.practice_id),
        )

    @activity.defn
    async def commit(self, event: Event) -> Committed:
        """Write everything the event implies in one transaction (store/case_writes.py); a
        settlement is priced here, by the worker's tariff table. Then what the workflow needs
        to start the event's deliveries: whether its entries go on to a record system, whether
        the author of a billed message is a specialist in general practice, and what the first
        attempts got (the notifications sent, the frikort register's answer)."""
        outcome = None
        if event.settlement is not None:
            outcome = decide_copayment(event.settlement, self._table)
            event.record.copayment = outcome
            event.notifications = [settled_as(note, outcome) for note in event.notifications]
        try:
            applied, charged = await self._consultations.commit(event, outcome)
        except UnknownAttachmentError as error:
            raise refused(error) from error
        specialist = False
        if event.bill is not None:
            author = await self._directory.get(event.bill.clinician_id)
            specialist = author is not None and author.specialist_in_general_practice
        forward = False
        if event.journal and self._forwards is not None:
            forward = await self._forwards(event.record.practice_id)
        until = time.monotonic() + FIRST_ATTEMPTS_SECONDS
        notified: list[str] = []
        if event.first_attempt and self._delivery is not None:
            fresh = activity.info().attempt == 1
            notified = await self._delivery.first_attempt(
                event.notifications, fresh=fresh, until=until
            )
        frikort = None
        if event.ask_frikort is not None:
            frikort = await self._ask_frikort_once(event.ask_frikort, until)
        return Committed(
            applied=applied,
            forward=forward,
            specialist_in_general_practice=specialist,
            copayment=charged,
            notified=notified,
            frikort=frikort,
        )

    async def _ask_frikort_once(self, question: FrikortQuestion, until: float) -> bool | None:
        """The register's answer if it gives one at once (by `until`, time.monotonic()); None
        leaves the question to the settlement's activity, retried until it answers (never a
        guess)."""
        left = min(FIRST_ATTEMPT_SECONDS, until - time.monotonic())
        if self._frikort_register is None or left <= 0:
            return None
        try:
            async with asyncio.timeout(left):
                return await self._frikort_register.holds_frikort(
                    question.patient_id, question.on_day
                )
        except Exception:
            log.warning("frikort register did not answer at once", exc_info=True)
            return None


def refused(error: UnknownAttachmentError) -> ApplicationError:
    """The workflow refuses the message (and its event) with this, without retrying."""
    return ApplicationError(str(error), type=Refusal.UNKNOWN_ATTACHMENT, non_retryable=True)
